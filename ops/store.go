package ops

import (
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/s3fs"
)

// Store is the store the decrypt and rewrap tools act on: S3, the client
// s3fs.Dial made, for their reads (listings, heads, versions); FS, an FS on
// that client, for the object format and for the writes, which keep the
// gateway's invariants (server-side encryption, copies pinned to the ETag
// read).
type Store struct {
	S3 *s3.Client
	FS *s3fs.FS
}
