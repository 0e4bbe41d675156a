package s3fs

import (
	"fmt"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/crypt"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// ObjectKey maps the SFTP path p of t's home to its object key exactly as a
// session of t would (the same jail, names encrypted when cfg.NameKey is
// set), for the operator tools (ops.PresignGet) that act on a user's file
// without a session. isHome reports that p names the home itself. A path
// the jail refuses is a *vfs.PathError whose message says why.
func ObjectKey(cfg Config, t *auth.Tenant, p string) (key string, isHome bool, err error) {
	m := vfs.Mount{Bucket: t.Bucket, Prefix: t.Prefix}
	if cfg.NameKey != nil {
		names, err := crypt.NamesFromKEK(cfg.NameKey, t.Bucket, t.Prefix)
		if err != nil {
			return "", false, fmt.Errorf("name key: %w", err)
		}
		m.Names = names
	}
	if key, err = m.Key(p); err != nil {
		return "", false, err
	}
	return key, m.IsRoot(key), nil
}
