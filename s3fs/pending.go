package s3fs

import (
	"fmt"
	"log/slog"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/attr"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Temporary names (WinSCP's, rclone's) and resume: see docs/clients.md,
// "Temporary names and upload resume"; the pending uploads are upload.Table.

// openPending resumes or discards the pending upload of a temporary name
// opened for writing. It returns the upload to write to, or nil to start a
// new one.
func (h *handlers) openPending(p string, pl vfs.Place, trunc bool, rec *audit.Record) (*upload.Upload, error) {
	u := h.fs.pending.Take(pl.Mount.Bucket, pl.Key)
	switch {
	case u == nil:
		return nil, nil
	case trunc:
		u.Discard(session{h, pl})
		rec.Op = "pending upload discarded: opened with truncate"
		return nil, nil
	case !u.Resumable():
		h.fs.pending.Put(u)
		return nil, boundary.Failure("upload refused: this partial file was closed in the middle of a part and cannot be continued; upload it again from the start")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.open[p]; busy {
		h.fs.pending.Put(u)
		return nil, boundary.Failure("upload refused: this file is already open for upload in this session")
	}
	if err := u.Resume(session{h, pl}); err != nil {
		h.fs.pending.Put(u)
		return nil, err
	}
	h.open[p] = u
	rec.Op = fmt.Sprintf("resume at %d bytes", u.Info().Size)
	return u, nil
}

// commitPending is the rename of a pending upload onto its final name: one
// CompleteMultipartUpload, no copy. The upload stays pending if it fails.
// from is the temporary name's place, at its target's.
func (h *handlers) commitPending(u *upload.Upload, to string, from, at vfs.Place, rec *audit.Record) error {
	putBack := func(err error) error {
		h.fs.pending.Put(u)
		return err
	}
	m, toKey := at.Mount, at.Key
	if toKey != u.Key() || m != from.Mount {
		// the message names no file: the trail records it, and with paths = "hmac" it names none
		return putBack(boundary.Failure("rename refused: this upload is still in progress under a temporary name and can only be renamed to that name without its temporary suffix"))
	}
	if h.isDir(m, toKey) {
		return putBack(boundary.Failure("rename refused: a directory has the target name"))
	}
	exists, err := h.fileExists(m, to, toKey)
	if err != nil {
		return putBack(err)
	}
	overwrite := m.Perms.Has(auth.PermOverwrite) // the rename's rules, not the open's
	if exists && !overwrite {
		return putBack(boundary.Overwrite(h.canSee(m), "rename", "target"))
	}
	if err := u.Commit(session{h, at}, overwrite, rec); err != nil {
		return putBack(err)
	}
	h.dropStaleTemp(m, from.Key)
	h.takeMtime(u.Path())
	info := u.Info()
	h.remember(to, attr.Info{Path: to, Bytes: info.Size, Mtime: info.Mtime})
	rec.Op = "commit pending upload"
	return nil
}

// dropStaleTemp deletes an object stored under the temporary name by an
// earlier, smaller upload, so the rename leaves no trace of the name, as a
// rename of a stored object does. A failure is only logged.
func (h *handlers) dropStaleTemp(m *vfs.Mount, tempKey string) {
	if exists, err := h.fileExists(m, "", tempKey); err != nil || !exists {
		return
	}
	if err := h.fs.obj.Delete(h.ctx, m.Bucket, tempKey); err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "delete of a stale temporary object failed", slog.String("err", h.cause(err, tempKey)))
	}
}

// removePending deletes a temporary file that is a pending upload: its
// parts are discarded.
func (h *handlers) removePending(pl vfs.Place) bool {
	u := h.fs.pending.Take(pl.Mount.Bucket, pl.Key)
	if u == nil {
		return false
	}
	u.Discard(session{h, pl})
	return true
}
