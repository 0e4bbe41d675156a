package s3fs

import (
	"log/slog"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/attr"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Directory times. A directory is the empty "dir/" marker object mkdir
// puts, or only the common prefix of the keys below it. Its time is the
// marker's: the time a setstat kept on it (metadata s3sftpd-mtime, as for
// files), else its LastModified, the time of the mkdir. A directory with no
// marker has no time of its own and shows the time it was looked at, as
// rclone's S3 backend does.
//
// ListObjectsV2 names a subdirectory only as a common prefix, without its
// marker, and a HEAD per directory would slow every listing down; so a
// listing shows the time this gateway last saw on the marker (by mkdir,
// setstat or stat of the directory), else the time of the listing.

// dirInfo describes the directory at key (no trailing "/") as stat sees it.
// The marker, if any, is the first key under key+"/", so the one-key
// listing that finds the directory finds it too; a HEAD of the marker then
// reads a kept time. ok is false when nothing lives under key+"/".
func (h *handlers) dirInfo(m *vfs.Mount, p, key string) (fi attr.Info, ok bool) {
	marker := key + "/"
	out, err := h.fs.obj.List(h.ctx, store.ListRequest{Bucket: m.Bucket, Prefix: marker, MaxKeys: 1})
	if err != nil || (len(out.Objects) == 0 && len(out.Prefixes) == 0) {
		return attr.Info{}, false
	}
	fi = attr.Info{Path: p, Dir: true, Mtime: time.Now().Truncate(time.Second)}
	if len(out.Objects) == 0 || out.Objects[0].Key != marker {
		return fi, true // no marker: the time it was looked at
	}
	fi.Mtime = h.fs.times.MarkerTime(h.ctx, m.Bucket, marker, out.Objects[0].LastModified)
	h.fs.times.SawMarker(m.Bucket, marker, fi.Mtime)
	return fi, true
}

// setDirTime keeps a time set on a directory: it puts the directory's
// marker again (empty, encrypted) with the time in its metadata, which also
// gives a directory that was only a common prefix a marker. That needs the
// mkdir permission. As for files, a time that cannot be kept (no
// permission, a storage error) is logged and audited, and the setstat
// succeeds: WinSCP aborts an upload when it fails.
func (h *handlers) setDirTime(m *vfs.Mount, p, key string, mtime time.Time, rec *audit.Record) error {
	if !m.Perms.Has(auth.PermMkdir) {
		rec.Op += " (mtime not kept: no mkdir permission)"
		return nil
	}
	marker := key + "/"
	if err := h.fs.times.PutMarker(h.ctx, m.Bucket, marker, mtime); err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "mtime not kept", slog.String("path", h.audit.Name(p)), slog.String("err", h.cause(err, marker)))
		rec.Op += " (mtime not kept: storage refused the marker)"
		return nil
	}
	h.fs.times.SawMarker(m.Bucket, marker, mtime)
	return nil
}

// refuseDirSize answers a SETSTAT size on a directory, which has none.
func refuseDirSize(flags sftp.FileAttrFlags) error {
	if flags.Size {
		return boundary.Failure("truncate refused: it is a directory")
	}
	return nil
}
