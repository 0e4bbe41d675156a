package s3fs

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/auth"
)

// Presigned is a time-limited GET URL for one object of a user's jail.
type Presigned struct {
	URL     string
	Key     string
	Expires time.Time
}

// PresignGet signs a GET of the file at the SFTP path p of t's jail, valid
// for ttl. A URL is only handed out for what t could download over SFTP:
// it needs the read permission, a path that stays inside the home (a ".."
// climbing above it is refused, not cleaned away) and a file that exists
// now. Refusals are *Error with a message fit for the operator.
func PresignGet(ctx context.Context, client *s3.Client, t *auth.Tenant, p string, ttl time.Duration) (Presigned, error) {
	if !t.Perms.Has(auth.PermRead) {
		return Presigned{}, denied("presign refused: downloading is not permitted for this user")
	}
	if rel := path.Clean(strings.TrimLeft(p, "/")); rel == ".." || strings.HasPrefix(rel, "../") {
		return Presigned{}, denied("presign refused: the path leaves the user's home")
	}
	j := jail{prefix: t.Prefix}
	key, err := j.key(p)
	if err != nil {
		return Presigned{}, err
	}
	if j.isRoot(key) {
		return Presigned{}, failure("presign refused: it is a directory")
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &t.Bucket, Key: &key}); err != nil {
		if isNotFound(err) {
			return Presigned{}, notFound("presign refused: no such file")
		}
		return Presigned{}, fmt.Errorf("head %s: %w", key, err)
	}
	now := time.Now()
	req, err := s3.NewPresignClient(client).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &t.Bucket, Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return Presigned{}, fmt.Errorf("presign %s: %w", key, err)
	}
	return Presigned{URL: req.URL, Key: key, Expires: now.Add(ttl)}, nil
}
