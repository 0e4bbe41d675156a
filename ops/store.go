package ops

import (
	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/store"
)

// Store is the store the decrypt and rewrap tools act on: S3 for their
// reads (listings, heads, versions); FS, an FS on S3's client, for the
// object format and for the writes, which keep the gateway's invariants
// (server-side encryption, copies pinned to the ETag read).
type Store struct {
	S3 *store.Store
	FS *s3fs.FS
}
