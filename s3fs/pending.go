package s3fs

import (
	"fmt"
	"log/slog"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
)

// Temporary names. WinSCP uploads "name.filepart" and rclone
// "name.<hash>.partial", then rename onto "name". S3 has no rename: renaming
// a stored object copies every byte. So a temporary file big enough for a
// multipart upload is streamed straight into a multipart upload under the
// final key and is not completed at CLOSE: it stays pending, shown to the
// client as the temporary name (stat, listing, setstat), and the rename
// completes it, which S3 does without copying. A pending upload is never
// visible under the final name until then; one never renamed is aborted by
// the orphan sweep after orphan_upload_age.
//
// Resume: a pending upload is also what an interrupted transfer leaves. A
// disconnect keeps the parts already in S3 (the tail that was never sent is
// lost), so the temporary file's size is the sum of its whole parts, and a
// client that opens it again without truncating and writes from that size
// (OpenSSH reput, lftp put -c, psftp reput, WinSCP resume) adds new parts to
// the same upload. Pending uploads live in the gateway process (the FS's
// upload.Table): a resume must reach the same gateway, before it restarts.

// openPending resumes or discards the pending upload of a temporary name
// opened for writing. It returns the upload to write to, or nil to start a
// new one.
func (h *handlers) openPending(p, tempKey string, trunc bool, rec *audit.Record) (*upload.Upload, error) {
	u := h.fs.pending.Take(h.home.Bucket, tempKey)
	switch {
	case u == nil:
		return nil, nil
	case trunc:
		u.Discard(session{h})
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
	if err := u.Resume(session{h}); err != nil {
		h.fs.pending.Put(u)
		return nil, err
	}
	h.open[p] = u
	rec.Op = fmt.Sprintf("resume at %d bytes", u.Info().Size)
	return u, nil
}

// commitPending is the rename of a pending upload onto its final name: one
// CompleteMultipartUpload, no copy. The upload stays pending if it fails.
func (h *handlers) commitPending(u *upload.Upload, to, toKey, tempKey string, rec *audit.Record) error {
	putBack := func(err error) error {
		h.fs.pending.Put(u)
		return err
	}
	if toKey != u.Key() {
		// the message names no file: the trail records it, and with paths = "hmac" it names none
		return putBack(boundary.Failure("rename refused: this upload is still in progress under a temporary name and can only be renamed to that name without its temporary suffix"))
	}
	if h.isDir(toKey) {
		return putBack(boundary.Failure("rename refused: a directory has the target name"))
	}
	exists, err := h.fileExists(to, toKey)
	if err != nil {
		return putBack(err)
	}
	overwrite := h.tenant.Perms.Has(auth.PermOverwrite) // the rename's rules, not the open's
	if exists && !overwrite {
		return putBack(h.refuseOverwrite("rename", "target"))
	}
	if err := u.Commit(session{h}, overwrite, rec); err != nil {
		return putBack(err)
	}
	h.dropStaleTemp(tempKey)
	h.takeMtime(u.Path())
	info := u.Info()
	h.remember(to, fileInfo{name: to, size: info.Size, mtime: info.Mtime})
	rec.Op = "commit pending upload"
	return nil
}

// dropStaleTemp deletes an object stored under the temporary name by an
// earlier, smaller upload, so the rename leaves no trace of the name, as a
// rename of a stored object does. A failure is only logged.
func (h *handlers) dropStaleTemp(tempKey string) {
	if exists, err := h.fileExists("", tempKey); err != nil || !exists {
		return
	}
	if err := h.fs.obj.Delete(h.ctx, h.home.Bucket, tempKey); err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "delete of a stale temporary object failed", slog.String("err", h.cause(err, tempKey)))
	}
}

// removePending deletes a temporary file that is a pending upload: its
// parts are discarded.
func (h *handlers) removePending(tempKey string) bool {
	u := h.fs.pending.Take(h.home.Bucket, tempKey)
	if u == nil {
		return false
	}
	u.Discard(session{h})
	return true
}
