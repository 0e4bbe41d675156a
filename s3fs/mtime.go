package s3fs

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
)

// objectMtime is the time stat and listings show for an object (see
// keptime.Times.Of).
func (h *handlers) objectMtime(key string, head store.Object, lastModified time.Time) time.Time {
	return h.fs.times.Of(h.ctx, h.home.Bucket, key, head, lastModified)
}

// setstat answers SETSTAT and FSETSTAT. The modification time is kept, on
// a file or on a directory's marker (dirtime.go); the access time is not
// (stat shows it equal to mtime). A size is accepted on a file being
// uploaded (scp and lftp send the size they wrote) and when it is the
// stored file's size; size 0 with overwrite replaces the file with an empty
// one; any other size is refused, as S3 cannot change an object's size in
// place. Permissions and owner are accepted and ignored, as S3 has none.
// Otherwise it fails only for a missing file or a failed request: WinSCP
// and paramiko abort a transfer when setstat fails, so a time that cannot
// be kept is logged and audited, not refused.
func (h *handlers) setstat(r *sftp.Request, key string, rec *audit.Record) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	rec.Op = setstatOp(flags, attrs)
	mtime := time.Unix(int64(attrs.Mtime), 0)
	if u := h.openUpload(r.Filepath); u != nil { // lftp and scp set size and time before CLOSE
		if flags.Acmodtime {
			u.SetTime(mtime)
		}
		if flags.Size && attrs.Size == 0 {
			u.Truncate()
		}
		return nil
	}
	if u := h.fs.pending.Take(h.home.Bucket, key); u != nil { // WinSCP, after CLOSE: kept by the rename
		if flags.Acmodtime {
			u.SetTime(mtime)
		}
		h.fs.pending.Put(u)
		return nil
	}
	if !flags.Acmodtime && !flags.Size {
		return nil
	}
	if h.home.IsRoot(key) {
		if err := refuseDirSize(flags); err != nil {
			return err
		}
		rec.Op += " (mtime not kept: the home directory has no marker)"
		return nil
	}
	if !h.canSee() && !h.uploadedHere(r.Filepath) && !h.isDir(key) {
		return boundary.ErrNoSuchFile // what stat tells this user: setstat reveals no names either
	}
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: h.home.Bucket, Key: key})
	if err != nil {
		if isNotFound(err) {
			if _, ok := h.dirInfo(r.Filepath, key); ok {
				if err := refuseDirSize(flags); err != nil {
					return err
				}
				return h.setDirTime(r.Filepath, key, mtime, rec)
			}
			return boundary.ErrNoSuchFile
		}
		return h.s3Failure("setstat", r.Filepath, err)
	}
	if flags.Size && attrs.Size != uint64(sealing.HeadSize(head)) {
		return h.truncate(r.Filepath, key, flags, attrs.Size, mtime)
	}
	if !flags.Acmodtime {
		return nil
	}
	if h.fs.temps.Is(r.Filepath) { // WinSCP and rclone rename it next: the rename's copy stores the time
		h.mu.Lock()
		h.mtimes[r.Filepath] = mtime
		h.mu.Unlock()
		return nil
	}
	if !h.tenant.Perms.Has(auth.PermWrite) || !h.tenant.Perms.Has(auth.PermOverwrite) {
		rec.Op += " (mtime not kept: no overwrite permission)"
		return nil // keeping it rewrites the object; without overwrite it is a no-op, not a refusal
	}
	var notKept keptime.NotKept
	if err := h.fs.times.Keep(h.ctx, h.home.Bucket, key, head, mtime); errors.As(err, &notKept) {
		rec.Op += " (mtime not kept: " + string(notKept) + ")"
	} else if err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "mtime not kept", slog.String("path", h.audit.Name(r.Filepath)), slog.String("err", h.cause(err, key)))
		rec.Op += " (mtime not kept: storage refused it)"
	}
	return nil
}

// truncate answers a SETSTAT that changes a stored file's size. Size 0
// (OpenSSH and paramiko truncate, a client emptying a log) replaces the file
// with an empty one, as an upload of nothing would, keeping a time set with
// it; it needs write and overwrite. S3 cannot shorten or extend an object in
// place, so any other size is refused and the file stays as it was.
func (h *handlers) truncate(p, key string, flags sftp.FileAttrFlags, size uint64, mtime time.Time) error {
	if size != 0 {
		return boundary.Unsupported("truncate refused: a stored file's size can only be set to 0; upload the file again to change it")
	}
	if err := h.require(auth.PermWrite, "truncate", p); err != nil {
		return err
	}
	if !h.tenant.Perms.Has(auth.PermOverwrite) {
		return boundary.Denied("truncate refused: overwrite is not permitted for this user")
	}
	s, err := h.fs.seal.NewSealer(h.ctx, h.home.Bucket, h.home.Prefix, key)
	if err != nil {
		return h.s3Failure("truncate", p, err)
	}
	f := upload.File{Path: p, Key: key, Overwrite: true, Sealer: s}
	if flags.Acmodtime {
		f.Mtime = mtime
	}
	u := upload.New(h.fs.uploadConfig(), session{h}, f)
	h.mu.Lock()
	if _, busy := h.open[p]; busy {
		h.mu.Unlock()
		u.Drop()
		return boundary.Failure("truncate refused: this file is open for upload in this session")
	}
	h.open[p] = u
	h.mu.Unlock()
	return u.Close() // stores the empty file and records it, as a CLOSE does
}

// setstatOp describes what a SETSTAT asked for, for the audit trail.
func setstatOp(flags sftp.FileAttrFlags, attrs *sftp.FileStat) string {
	var parts []string
	if flags.Size {
		parts = append(parts, fmt.Sprintf("size=%d", attrs.Size))
	}
	if flags.Permissions {
		parts = append(parts, fmt.Sprintf("mode=%04o", attrs.Mode&0o7777))
	}
	if flags.UidGid {
		parts = append(parts, fmt.Sprintf("owner=%d:%d", attrs.UID, attrs.GID))
	}
	if flags.Acmodtime {
		parts = append(parts, fmt.Sprintf("mtime=%d", attrs.Mtime))
	}
	return "setstat " + strings.Join(parts, " ")
}

// takeMtime returns and forgets the time held for a temporary file.
func (h *handlers) takeMtime(p string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.mtimes[p]
	delete(h.mtimes, p)
	return t, ok
}

// heldMtime is the time held for a temporary file, if any.
func (h *handlers) heldMtime(p string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.mtimes[p]
	return t, ok
}
