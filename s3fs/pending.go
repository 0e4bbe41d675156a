package s3fs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
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
// the same upload. Pending uploads live in the gateway process: a resume
// must reach the same gateway, before it restarts.

// DefaultTempSuffixes are the temporary names of WinSCP and rclone. "*"
// stands for one dot-free name segment (rclone's hash).
var DefaultTempSuffixes = []string{".filepart", ".*.partial"}

// validTempSuffix reports whether s is ".suffix" or ".*.suffix".
func validTempSuffix(s string) bool {
	rest, ok := strings.CutPrefix(s, ".*.")
	if !ok {
		rest, ok = strings.CutPrefix(s, ".")
	}
	return ok && rest != "" && !strings.ContainsAny(rest, "*/")
}

// finalName is the name a temporary file will be renamed to ("a/b.filepart"
// → "a/b"), and false for other names.
func (fs *FS) finalName(p string) (string, bool) {
	for _, s := range fs.tempSuffixes {
		if wild, ok := strings.CutPrefix(s, ".*"); ok {
			rest, ok := strings.CutSuffix(p, wild)
			i := strings.LastIndexByte(rest, '.')
			if ok && i > 0 && i < len(rest)-1 && !strings.Contains(rest[i:], "/") && rest[i-1] != '/' {
				return rest[:i], true
			}
			continue
		}
		if rest, ok := strings.CutSuffix(p, s); ok && rest != "" && !strings.HasSuffix(rest, "/") {
			return rest, true
		}
	}
	return "", false
}

func (fs *FS) isTemp(p string) bool {
	_, ok := fs.finalName(p)
	return ok
}

// pendingTable holds the uploads closed under a temporary name and not yet
// renamed, by bucket and temporary key.
type pendingTable struct {
	mu sync.Mutex
	m  map[string]*upload
}

func pendingID(bucket, tempKey string) string { return bucket + "\x00" + tempKey }

func (t *pendingTable) put(u *upload) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*upload{}
	}
	t.m[pendingID(u.h.tenant.Bucket, u.tempKey)] = u
}

// take removes and returns the pending upload of tempKey, if any.
func (t *pendingTable) take(bucket, tempKey string) *upload {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := pendingID(bucket, tempKey)
	u := t.m[id]
	delete(t.m, id)
	return u
}

// info describes the pending upload of tempKey for stat.
func (t *pendingTable) info(bucket, tempKey, p string) (fileInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.m[pendingID(bucket, tempKey)]
	if !ok {
		return fileInfo{}, false
	}
	return u.pendingInfo(p), true
}

// under lists the pending uploads whose temporary keys sit directly in dir
// (a key prefix ending in "/"), as temporary keys → file info.
func (t *pendingTable) under(bucket, dir string) map[string]fileInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	found := map[string]fileInfo{}
	for id, u := range t.m {
		b, key, _ := strings.Cut(id, "\x00")
		if rest, ok := strings.CutPrefix(key, dir); b == bucket && ok && !strings.Contains(rest, "/") {
			found[key] = u.pendingInfo(u.path)
		}
	}
	return found
}

// dropUploadID forgets a pending upload the orphan sweep aborted.
func (t *pendingTable) dropUploadID(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, u := range t.m {
		if u.uploadID == id {
			delete(t.m, k)
		}
	}
}

// openPending resumes or discards the pending upload of a temporary name
// opened for writing. It returns the upload to write to, or nil to start a
// new one.
func (h *handlers) openPending(p, tempKey string, trunc bool, rec *audit.Record) (*upload, error) {
	u := h.fs.pending.take(h.tenant.Bucket, tempKey)
	switch {
	case u == nil:
		return nil, nil
	case trunc:
		u.h = h
		u.abort()
		rec.Op = "pending upload discarded: opened with truncate"
		return nil, nil
	case !u.resumable():
		h.fs.pending.put(u)
		return nil, failure("upload refused: this partial file was closed in the middle of a part and cannot be continued; upload it again from the start")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.open[p]; busy {
		h.fs.pending.put(u)
		return nil, failure("upload refused: this file is already open for upload in this session")
	}
	if err := u.sealer.resume(); err != nil {
		h.fs.pending.put(u)
		return nil, failure("upload refused: this partial file was resumed too many times; upload it again from the start")
	}
	u.reopen(h)
	h.open[p] = u
	rec.Op = fmt.Sprintf("resume at %d bytes", u.size)
	return u, nil
}

// commitPending is the rename of a pending upload onto its final name: one
// CompleteMultipartUpload, no copy. The upload stays pending if it fails.
func (h *handlers) commitPending(u *upload, to, toKey string, rec *audit.Record) error {
	putBack := func(err error) error {
		u.failed = nil
		h.fs.pending.put(u)
		return err
	}
	if toKey != u.key {
		// the message names no file: the trail records it, and with paths = "hmac" it names none
		return putBack(failure("rename refused: this upload is still in progress under a temporary name and can only be renamed to that name without its temporary suffix"))
	}
	if h.isDir(toKey) {
		return putBack(failure("rename refused: a directory has the target name"))
	}
	exists, err := h.fileExists(to, toKey)
	if err != nil {
		return putBack(err)
	}
	u.overwrite, u.exclusive = h.tenant.Perms.Has(auth.PermOverwrite), false // the rename's rules, not the open's
	if exists && !u.overwrite {
		return putBack(h.refuseOverwrite("rename", "target"))
	}
	u.h = h
	u.ctx, u.cancel = context.WithCancel(h.ctx)
	defer u.cancel()
	if err := u.stages.Finish(); err != nil { // an interrupted upload the stages cannot publish as it is
		return putBack(u.stageFailure(err))
	}
	if err := u.complete(); err != nil {
		return putBack(err)
	}
	h.dropStaleTemp(u.tempKey)
	h.takeMtime(u.path)
	h.remember(to, u.pendingInfo(to))
	rec.Op = "commit pending upload"
	rec.Bytes, rec.SHA256 = audit.Int(u.size), u.sum.Hex()
	rec.ETag, rec.VersionID = etag(u.stored.ETag), u.stored.VersionID
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
	u := h.fs.pending.take(h.tenant.Bucket, tempKey)
	if u == nil {
		return false
	}
	u.h = h
	u.abort()
	return true
}
