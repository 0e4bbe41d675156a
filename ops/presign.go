package ops

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Presigned is a time-limited GET URL for one object of a user's jail.
type Presigned struct {
	URL     string
	Key     string
	Expires time.Time
}

// Refusal is a presign refused for a reason the operator can act on (the
// user's permissions, the path, the file, the encryption mode). Its message
// names no key or bucket, so the presign trail may hold it.
type Refusal struct{ msg string }

func (r *Refusal) Error() string { return r.msg }

func refuse(msg string) error { return &Refusal{msg} }

// PresignGet signs a GET of the file at the SFTP path p of t's jail, valid
// for ttl, through st as t (with t's role when it has one, so the URL
// reaches t's places only). p is resolved through t's tree as a session
// would (a folder's path leads to the folder's bucket and prefix). A
// URL is only handed out for what t could download over SFTP, as SFTP
// would serve it: it needs the read permission where p leads, a path that stays inside
// the tree (a ".." climbing above it is refused, not cleaned away) and a
// file that exists now, found under its encrypted name when cfg encrypts
// names. A URL serves the stored bytes as they are, so nothing the gateway
// encrypted is handed out: cfg.Envelope refuses every presign, and an
// object stored envelope-encrypted is refused in any mode. Refusals are
// *Refusal; see PresignTrailText.
func PresignGet(ctx context.Context, st *store.Store, cfg s3fs.Config, t *auth.Tenant, p string, ttl time.Duration) (Presigned, error) {
	if cfg.Envelope {
		return Presigned{}, refuse(`presign refused: [encryption] mode is "envelope", so files are stored encrypted by the gateway ` +
			"and a presigned URL would hand out ciphertext that only the gateway can decrypt; download the file over SFTP instead")
	}
	if rel := path.Clean(strings.TrimLeft(p, "/")); rel == ".." || strings.HasPrefix(rel, "../") {
		return Presigned{}, refuse("presign refused: the path leaves the user's home")
	}
	pl, err := s3fs.ObjectKey(cfg, t, p)
	var jailed *vfs.PathError
	switch {
	case errors.As(err, &jailed):
		return Presigned{}, refuse(jailed.Error())
	case err != nil:
		return Presigned{}, err
	case !pl.Exists():
		return Presigned{}, refuse("presign refused: no such file")
	case pl.Mount == nil || pl.Virtual || pl.Mount.IsRoot(pl.Key):
		return Presigned{}, refuse("presign refused: it is a directory")
	case !pl.Mount.Perms.Has(auth.PermRead): // the folder's permissions, as over SFTP
		return Presigned{}, refuse("presign refused: downloading is not permitted for this user")
	}
	key, bucket := pl.Key, pl.Mount.Bucket
	ctx = store.WithTenant(ctx, t)
	head, err := st.Head(ctx, bucket, key)
	if err != nil {
		if store.IsNotFound(err) {
			return Presigned{}, refuse("presign refused: no such file")
		}
		return Presigned{}, fmt.Errorf("head %s: %w", key, err)
	}
	if objfmt.Encrypted(head.Metadata) {
		return Presigned{}, refuse("presign refused: the file is stored encrypted by the gateway " +
			"(written under envelope encryption), and a presigned URL would hand out ciphertext; download it over SFTP instead")
	}
	now := time.Now()
	url, err := st.PresignGet(ctx, bucket, key, ttl)
	if err != nil {
		return Presigned{}, fmt.Errorf("presign %s: %w", key, err)
	}
	return Presigned{URL: url, Key: key, Expires: now.Add(ttl)}, nil
}

// PresignTrailText is what the presign trail records about an error of
// PresignGet: a refusal's own fixed message, else fixed words with the S3
// error code. Never err's text: it names the object key and the request
// URL, which the trail must not hold with audit paths = "hmac".
func PresignTrailText(err error) string {
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return refusal.msg
	}
	text := "presign failed: the storage request failed"
	if code := store.ErrorCode(err); safeCode(code) {
		text += " (" + code + ")"
	} else if status := store.HTTPStatus(err); status != 0 {
		text += fmt.Sprintf(" (HTTP %d)", status)
	}
	return text
}

// safeCode reports whether an S3 error code is a short word, as S3's are;
// a store could answer anything.
func safeCode(code string) bool {
	if code == "" || len(code) > 64 {
		return false
	}
	for _, r := range code {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.') {
			return false
		}
	}
	return true
}
