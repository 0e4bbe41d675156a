package s3fs

import (
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// ObjectKey resolves the SFTP path p of t's tree (its home and folders)
// exactly as a session of t would (the same jail, names encrypted per
// folder when cfg.NameKey is set), for the operator tools (ops.PresignGet)
// that act on a user's file without a session. A path the jail refuses is
// a *vfs.PathError whose message says why.
func ObjectKey(cfg Config, t *auth.Tenant, p string) (vfs.Place, error) {
	tree, err := vfs.TableOf(t, (&sealing.Policy{NameKey: cfg.NameKey}).Names)
	if err != nil {
		return vfs.Place{}, err
	}
	return tree.Resolve(p)
}
