package s3fs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/attr"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Fileread opens a file for download, and records the open.
func (h *handlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	rec := audit.Record{Event: audit.EventOpen, Mode: "read", Path: r.Filepath}
	release, err := h.openSlot()
	var d *download.Download
	if err == nil {
		if d, err = h.openRead(r, &rec); err == nil {
			d.HoldSlot(release)
		} else {
			release()
		}
	}
	if aerr := h.record(rec, err); aerr != nil && err == nil {
		d.Close()
		return nil, boundary.ErrAuditDown
	}
	if err != nil {
		return nil, err
	}
	return d.Reader(), nil
}

// openSlot takes one of the session's max_open_files, or refuses the open.
// Every open file holds memory (a download's read-ahead, an upload's
// buffer), so one session must not keep an unbounded number open. The
// returned func gives the slot back; calling it again does nothing.
func (h *handlers) openSlot() (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if max := h.tenant.Limits.MaxOpenFiles; max > 0 && h.openFiles >= max {
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "open refused: too many open files", slog.Int("max_open_files", max))
		return func() {}, boundary.Failure(fmt.Sprintf("open refused: this session already has %d files open, the most allowed; close some first", max))
	}
	h.openFiles++
	return sync.OnceFunc(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.openFiles--
	}), nil
}

func (h *handlers) openRead(r *sftp.Request, rec *audit.Record) (*download.Download, error) {
	pl, err := h.at(r.Filepath, rec)
	if err != nil {
		return nil, err
	}
	if err := h.auditReady(); err != nil {
		return nil, err
	}
	m, key := pl.Mount, pl.Key
	switch {
	case !pl.Exists():
		return nil, boundary.ErrNoSuchFile
	case m == nil || pl.Virtual:
		return nil, boundary.Failure("download refused: it is a directory")
	}
	if err := h.require(m, auth.PermRead, "download", r.Filepath); err != nil {
		return nil, err
	}
	if m.IsRoot(key) {
		return nil, boundary.Failure("download refused: it is a directory")
	}
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: m.Bucket, Key: key})
	if err != nil {
		if isNotFound(err) && h.isDir(m, key) {
			return nil, boundary.Failure("download refused: it is a directory")
		}
		return nil, h.s3Failure("download", r.Filepath, err)
	}
	op, size, err := h.fs.seal.Opener(h.ctx, m.Bucket, m.Prefix, key, head)
	if err == nil && op != nil && size == 0 {
		err = h.checkEmpty(m, key, head.ETag, op) // no read would ever look at its one chunk
	}
	if err != nil {
		return nil, h.s3Failure("download", r.Filepath, err)
	}
	rec.ETag, rec.VersionID, rec.Bytes = etag(head.ETag), head.VersionID, audit.Int(size)
	o := download.Object{Path: r.Filepath, Key: key, ETag: head.ETag, VersionID: head.VersionID,
		Size: size, RawSize: head.Size, Opener: op, Encrypt: h.gates.Encryption(m.Gates), PickUp: m.Lifecycle.DeleteAfterDownload}
	if op == nil { // an encrypted object's chunks authenticate themselves (see sha256Metadata)
		o.SHA256 = h.storedSHA256(m, key, head)
	}
	return download.New(h.fs.downloadConfig(), session{h, pl}, o), nil
}

// Filewrite opens a file for upload, and records the open. The object
// appears only when the upload completes; until then the previous version,
// if any, stays in place.
func (h *handlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	rec := audit.Record{Event: audit.EventOpen, Mode: "write", Path: r.Filepath}
	release, err := h.openSlot()
	var u *upload.Upload
	if err == nil {
		if u, err = h.openWrite(r, &rec); err == nil {
			u.HoldSlot(release)
		} else {
			release()
		}
	}
	if aerr := h.record(rec, err); aerr != nil && err == nil {
		h.forget(r.Filepath, u)
		u.Drop()
		release()
		return nil, boundary.ErrAuditDown
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (h *handlers) openWrite(r *sftp.Request, rec *audit.Record) (*upload.Upload, error) {
	flags := r.Pflags()
	pl, err := h.at(r.Filepath, rec)
	if err != nil {
		return nil, err
	}
	if err := h.auditReady(); err != nil {
		return nil, err
	}
	if flags.Read {
		return nil, boundary.Unsupported("open refused: files can be opened for reading or for writing, not both")
	}
	if err := h.tree.Refuse("upload", auth.PermWrite, pl); err != nil {
		return nil, err
	}
	m, key := pl.Mount, pl.Key
	if m.IsRoot(key) {
		return nil, boundary.Failure("upload refused: it is a directory")
	}
	if err := h.require(m, auth.PermWrite, "upload", r.Filepath); err != nil {
		return nil, err
	}
	switch {
	case flags.Excl:
		rec.Op = "exclusive create"
	case flags.Append:
		rec.Op = "append" // a resume, a create, or refused
	}
	final, temp := h.fs.temps.Final(r.Filepath)
	if flags.Excl {
		// stored under its own name with If-None-Match: a pending upload's
		// commit would write the final name, which EXCL never asked for
		temp = false
		if _, pending := h.fs.pending.Info(m.Bucket, key); pending {
			return nil, boundary.Exclusive(h.canSee(m))
		}
	}
	var finalKey string
	if temp {
		if finalKey, temp = h.keyIn(m, final); temp {
			if u, err := h.openPending(r.Filepath, pl, flags.Trunc, rec); u != nil || err != nil {
				return u, err
			}
		}
	}
	overwrite := m.Perms.Has(auth.PermOverwrite)
	// No HEAD when this session's stat just found nothing there (scp stats
	// first), nor for a truncating open by a user who may overwrite, nor
	// when its last look at the folder found nothing there: the commit's
	// If-None-Match still refuses a file another writer stores meanwhile
	// where overwriting is not allowed.
	absent := h.wasAbsent(r.Filepath)
	blind := absent || overwrite && flags.Trunc && !flags.Excl && !flags.Append
	name, known := h.names.Known(m.Bucket, key) // the next file of a batch: a look under a second ago showed its name
	exists := false
	if !blind && (!known || name.File) {
		if exists, err = h.fileExists(m, r.Filepath, key); err != nil {
			return nil, err
		}
	}
	if !absent && !known && !exists { // a look at the names from here on answers the batch's next opens too
		name.Dir, _ = h.names.Look(h.ctx, h.fs.obj, m.Bucket, key) // a failed one counts as no, as in isDir
	}
	switch {
	case exists && flags.Excl:
		return nil, boundary.Exclusive(h.canSee(m))
	case exists && flags.Append && temp: // OpenSSH reput, lftp put -c of a stored temporary file
		return nil, boundary.Unsupported("upload refused: there is no partial upload of this file to continue")
	case exists && flags.Append: // OpenSSH reput opens with APPEND
		return nil, boundary.Unsupported("upload refused: appending to a file is not supported")
	case exists && !overwrite:
		return nil, boundary.Overwrite(h.canSee(m), "upload", "file")
	case !exists && name.Dir: // without a HEAD, also when a file has the name too
		return nil, boundary.Failure("upload refused: a directory has that name")
	}
	// An exclusive create, and an append that creates the file, must not
	// replace a file another writer stores meanwhile: their commit carries
	// If-None-Match: * whatever the user's permissions.
	exclusive := flags.Excl || flags.Append
	s, err := h.fs.seal.NewSealer(h.ctx, m.Bucket, m.Prefix, key)
	if err != nil {
		return nil, h.s3Failure("upload", r.Filepath, err)
	}
	f := upload.File{Path: r.Filepath, Key: key, Overwrite: overwrite && !exclusive, Exclusive: exclusive,
		KeepIfUntouched: exists && !flags.Trunc, Sealer: s, Gates: h.gates.Upload(h.ctx, m.Gates)}
	if temp && !m.IsRoot(finalKey) {
		f.Temp = &upload.Temp{Final: final, FinalKey: finalKey, Binding: sealing.Binding(m.Bucket, m.Prefix, finalKey)}
	}
	u := upload.New(h.fs.uploadConfig(), session{h, pl}, f)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.open[r.Filepath]; busy {
		u.Drop()
		return nil, boundary.Failure("upload refused: this file is already open for upload in this session")
	}
	h.open[r.Filepath] = u
	return u, nil
}

// canSee reports whether the user may learn which files exist, by listing or
// reading. For a user who cannot, stat answers "no such file" for any file
// but its own uploads, so refusals never say that a file exists either:
// they may only say the name cannot be overwritten.
func (h *handlers) canSee(m *vfs.Mount) bool {
	return m.Perms.Has(auth.PermList) || m.Perms.Has(auth.PermRead)
}

// wasAbsent reports, once, whether this session's last stat found nothing
// at p less than a second ago: an open then need not ask S3 again.
func (h *handlers) wasAbsent(p string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := p != "" && h.absent == p && time.Since(h.absentAt) < time.Second
	h.absent = ""
	return was
}

// fileExists reports whether key is an object, asking S3.
func (h *handlers) fileExists(m *vfs.Mount, path, key string) (bool, error) {
	_, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: m.Bucket, Key: key})
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, h.s3Failure("upload", path, err, key)
}

// forget drops a finished upload from the session's table of open uploads.
func (h *handlers) forget(path string, u *upload.Upload) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open[path] == u {
		delete(h.open, path)
	}
}

// remember records a file this session uploaded, so a write-only user can stat it.
func (h *handlers) remember(path string, fi attr.Info) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.uploaded[path] = fi
}

// uploadedHere reports whether this session stored the file at path.
func (h *handlers) uploadedHere(path string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.uploaded[path]
	return ok
}

// moveUploaded follows a rename of a file this session uploaded.
func (h *handlers) moveUploaded(from, to string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fi, ok := h.uploaded[from]; ok {
		delete(h.uploaded, from)
		fi.Path = to
		h.uploaded[to] = fi
	}
}

func (h *handlers) openUpload(path string) *upload.Upload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open[path]
}

// session is a session's handlers as one file's upload or download sees
// them (upload.Session, download.Session): pl is where the file is.
type session struct {
	h  *handlers
	pl vfs.Place
}

func (s session) Context() context.Context               { return s.h.ctx }
func (s session) Logger() *slog.Logger                   { return s.h.log }
func (s session) User() string                           { return s.h.tenant.User }
func (s session) Share() int64                           { return s.h.memShare }
func (s session) ReadAheadShare() int64                  { return s.h.tenant.Limits.ReadAheadMemory }
func (s session) Bucket() string                         { return s.pl.Mount.Bucket }
func (s session) Name(p string) string                   { return s.h.audit.Name(p) }
func (s session) Cause(err error, keys ...string) string { return s.h.cause(err, keys...) }
func (s session) CanSee() bool                           { return s.h.canSee(s.pl.Mount) }
func (s session) AuditReady() error                      { return s.h.auditReady() }
func (s session) Record(r audit.Record, err error) error { return s.h.record(named(r, s.pl), err) }
func (s session) Forget(p string, u *upload.Upload)      { s.h.forget(p, u) }
func (s session) Remember(p string, size int64) {
	s.h.names.Forget(s.pl.Key)
	s.h.remember(p, attr.Info{Path: p, Bytes: size, Mtime: time.Now()})
}
func (s session) Failed(op, p string, err error, keys ...string) error {
	return s.h.s3Failure(op, p, err, keys...)
}

// KeepMtime keeps mtime on the object at key with a metadata self-copy,
// for an object small enough to copy in one request.
func (s session) KeepMtime(key string, mtime time.Time) error {
	b := s.pl.Mount.Bucket
	head, err := s.h.fs.obj.Head(s.h.ctx, store.HeadRequest{Bucket: b, Key: key})
	if err == nil && head.Size <= maxPartSize {
		err = s.h.fs.times.KeepInMetadata(s.h.ctx, b, key, head, mtime)
	}
	return err
}

// HoldMtime keeps the time set on a temporary name for its rename, which
// stores it.
func (s session) HoldMtime(p string, mtime time.Time) bool {
	if !s.h.fs.temps.Is(p) {
		return false
	}
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.mtimes[p] = mtime
	return true
}

// LookupUserName and LookupGroupName name the owner in `ls -l` long listings.
func (h *handlers) LookupUserName(string) string  { return h.tenant.User }
func (h *handlers) LookupGroupName(string) string { return h.tenant.User }

// checkEmpty authenticates the one chunk of an encrypted object that holds
// nothing: a longer object cut to a single chunk's length must not pass for
// an empty file.
func (h *handlers) checkEmpty(m *vfs.Mount, key, etag string, op *download.Opener) error {
	out, err := h.fs.obj.Get(h.ctx, store.GetRequest{Bucket: m.Bucket, Key: key, IfMatch: etag})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	stored, err := io.ReadAll(io.LimitReader(out.Body, objfmt.CipherChunkSize))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := op.OpenEmpty(stored); err != nil {
		return fmt.Errorf("open %s: %w", key, err)
	}
	return nil
}
