package ops

import (
	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/store"
)

// Store is the store the decrypt and rewrap tools act on: S3 for their
// reads (listings, heads, versions, bodies); FS, an FS on S3's object API,
// for the keys and names only it holds, and for rewrap's copies, which keep
// the gateway's invariants (server-side encryption, tags, copies pinned to
// the ETag read).
type Store struct {
	S3 *store.Store
	FS *s3fs.FS

	// selfCopyLimit is the largest object rewrap copies onto itself with
	// one CopyObject; 0 is 5 GiB, S3's most. Tests lower it.
	selfCopyLimit int64
}
