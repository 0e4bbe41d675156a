package s3fs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/attr"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Filecmd answers the requests that change names: setstat, rename, remove,
// mkdir, rmdir; links are refused. Each leaves an audit record.
func (h *handlers) Filecmd(r *sftp.Request) error {
	h.wasAbsent("") // a command may create what a stat found absent
	// and a rename, remove or mkdir may change names the last look showed
	if r.Method != "Setstat" {
		h.names.Reset()
	}
	rec := audit.Record{Event: cmdEvent(r.Method), Path: r.Filepath}
	if rec.Event == audit.EventRefused {
		rec.Op = strings.ToLower(r.Method)
	}
	err := h.filecmd(r, &rec)
	h.record(rec, err) // the change is made: a lost record cannot undo it, and auditReady refuses the next one
	return err
}

// cmdEvent is the audit event of a Filecmd method.
func cmdEvent(method string) string {
	switch method {
	case "Setstat":
		return audit.EventSetstat
	case "Rename", "PosixRename":
		return audit.EventRename
	case "Remove":
		return audit.EventRemove
	case "Mkdir":
		return audit.EventMkdir
	case "Rmdir":
		return audit.EventRmdir
	}
	return audit.EventRefused
}

func (h *handlers) filecmd(r *sftp.Request, rec *audit.Record) error {
	pl, err := h.at(r.Filepath, rec)
	if err != nil {
		return err
	}
	if err := h.auditReady(); err != nil {
		return err
	}
	switch r.Method {
	case "Setstat":
		return h.setstat(r, pl, rec)
	case "Rename", "PosixRename":
		return h.rename(r.Filepath, r.Target, pl, r.Method == "PosixRename", rec)
	case "Remove":
		return h.remove(r.Filepath, pl)
	case "Mkdir":
		return h.mkdir(r.Filepath, pl)
	case "Rmdir":
		return h.rmdir(r.Filepath, pl)
	case "Symlink", "Link":
		return boundary.Unsupported("links are not supported by this server")
	}
	return boundary.Unsupported(strings.ToLower(r.Method) + " is not supported")
}

// PosixRename (posix-rename@openssh.com) replaces the target, which a plain
// rename refuses to do.
func (h *handlers) PosixRename(r *sftp.Request) error { return h.Filecmd(r) }

// StatVFS reports a large, mostly free filesystem so clients don't refuse uploads.
func (h *handlers) StatVFS(*sftp.Request) (*sftp.StatVFS, error) { return attr.StatVFS(), nil }

func (h *handlers) remove(p string, pl vfs.Place) error {
	if !pl.Exists() {
		return boundary.ErrNoSuchFile
	}
	if err := h.tree.Refuse("delete", auth.PermDelete, pl); err != nil {
		return err
	}
	m, key := pl.Mount, pl.Key
	if err := h.require(m, auth.PermDelete, "delete", p); err != nil {
		return err
	}
	if m.IsRoot(key) {
		return boundary.Failure("delete refused: it is a directory")
	}
	if h.removePending(pl) {
		return nil
	}
	exists, err := h.fileExists(m, p, key)
	if err != nil {
		return err
	}
	if !exists {
		if h.isDir(m, key) {
			return boundary.Failure("delete refused: it is a directory, use rmdir")
		}
		return boundary.ErrNoSuchFile
	}
	if err := h.fs.obj.Delete(h.ctx, m.Bucket, key); err != nil {
		return h.s3Failure("delete", p, fmt.Errorf("delete %s: %w", key, err))
	}
	return nil
}

func (h *handlers) mkdir(p string, pl vfs.Place) error {
	if pl.Virtual || pl.FolderRoot() {
		return boundary.Failure("mkdir refused: directory already exists")
	}
	if err := h.tree.Refuse("mkdir", auth.PermMkdir, pl); err != nil {
		return err
	}
	m, key := pl.Mount, pl.Key
	if err := h.require(m, auth.PermMkdir, "mkdir", p); err != nil {
		return err
	}
	if m.IsRoot(key) || h.isDir(m, key) {
		return boundary.Failure("mkdir refused: directory already exists")
	}
	if exists, err := h.fileExists(m, p, key); err != nil || exists {
		if err != nil {
			return err
		}
		if !h.canSee(m) { // stat says "no such file" to this user
			return boundary.Failure("mkdir refused: the name cannot be used for a new directory")
		}
		return boundary.Failure("mkdir refused: a file has that name")
	}
	if err := h.fs.times.PutMarker(h.ctx, m.Bucket, key+"/", time.Time{}); err != nil {
		return h.s3Failure("mkdir", p, err)
	}
	h.fs.times.SawMarker(m.Bucket, key+"/", time.Now().Truncate(time.Second)) // its LastModified, near enough
	return nil
}

func (h *handlers) rmdir(p string, pl vfs.Place) error {
	if !pl.Exists() {
		return boundary.ErrNoSuchFile
	}
	if err := h.tree.Refuse("rmdir", auth.PermDelete, pl); err != nil {
		return err
	}
	m, key := pl.Mount, pl.Key
	if err := h.require(m, auth.PermDelete, "rmdir", p); err != nil {
		return err
	}
	if m.IsRoot(key) {
		return boundary.Denied("rmdir refused: this is your home directory")
	}
	out, err := h.fs.obj.List(h.ctx, store.ListRequest{Bucket: m.Bucket, Prefix: key + "/", MaxKeys: 3})
	if err != nil {
		return h.s3Failure("rmdir", p, fmt.Errorf("list %s/: %w", key, err))
	}
	index := key + "/" + objfmt.TimesIndex // the folder's times index is no content: it goes with the folder
	hasIndex := slices.ContainsFunc(out.Objects, func(o store.Object) bool { return o.Key == index })
	out.Objects = slices.DeleteFunc(out.Objects, func(o store.Object) bool { return o.Key == index })
	switch {
	case len(out.Objects) == 0 && !hasIndex:
		if exists, _ := h.fileExists(m, p, key); exists && h.canSee(m) {
			return boundary.Failure("rmdir refused: not a directory")
		}
		return boundary.ErrNoSuchFile
	case len(out.Objects) > 1 || len(out.Objects) == 1 && out.Objects[0].Key != key+"/":
		return boundary.Failure("rmdir refused: directory is not empty")
	}
	if hasIndex {
		if err := h.fs.obj.Delete(h.ctx, m.Bucket, index); err != nil {
			return h.s3Failure("rmdir", p, fmt.Errorf("delete times index of %s/: %w", key, err))
		}
	}
	if err := h.fs.obj.Delete(h.ctx, m.Bucket, key+"/"); err != nil {
		return h.s3Failure("rmdir", p, fmt.Errorf("delete marker %s/: %w", key, err))
	}
	return nil
}
