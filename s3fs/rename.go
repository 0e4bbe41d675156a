package s3fs

import (
	"fmt"
	"strings"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

const (
	// maxDirRename is the most objects a directory rename copies. S3 has no
	// rename: each object is copied and deleted, so a big tree would take long
	// and could stop half-way; beyond this the partner is asked to move files.
	maxDirRename = 100
	// copyPartSize is the part size of a multipart copy (store's), used for
	// objects bigger than one part (see copyObject).
	copyPartSize = 128 << 20
)

// rename copies the object to its new key and then deletes the old one.
// posix is posix-rename@openssh.com, which replaces an existing target when
// the user may overwrite; a plain SSH_FXP_RENAME never replaces a file, as in
// OpenSSH and the SFTP v3 draft. A temporary file renamed onto its final name
// (name.filepart → name) completes an upload rather than moving a file: it
// needs write (and overwrite to replace name), not rename, and replaces with
// either request: WinSCP deletes an existing target before its plain rename,
// but stat shows none to a user who cannot list. Between two folders a
// rename is a copy and a delete that both folders' permissions must allow
// (vfs.Table.Move); a directory moves only within its folder.
func (h *handlers) rename(from, to string, fpl vfs.Place, posix bool, rec *audit.Record) error {
	rec.Target = to
	tpl, err := h.tree.Resolve(to)
	if err != nil {
		return err
	}
	rec.TargetKey, rec.TargetFolder = tpl.Key, named(audit.Record{Key: tpl.Key}, tpl).Folder
	if tpl.Mount != nil && fpl.Mount != nil && tpl.Mount.Bucket != fpl.Mount.Bucket {
		rec.TargetBucket = tpl.Mount.Bucket
	}
	cross, err := h.tree.Move(fpl, tpl)
	if err != nil {
		return err
	}
	fm, tm, fromKey, toKey := fpl.Mount, tpl.Mount, fpl.Key, tpl.Key
	completes := !cross && h.completesUpload(from, fm, toKey)
	if err := h.mayRename(fm, from, fromKey, completes); err != nil && !cross { // a move between folders: Move checked both
		return err
	}
	if fm.IsRoot(fromKey) || tm.IsRoot(toKey) {
		return boundary.Denied("rename refused: the home directory cannot be renamed or replaced")
	}
	if !cross && fromKey == toKey {
		return nil
	}
	if u := h.fs.pending.Take(fm.Bucket, fromKey); u != nil {
		return h.commitPending(u, to, fpl, tpl, rec)
	}
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: fm.Bucket, Key: fromKey})
	if err != nil {
		if isNotFound(err) && h.isDir(fm, fromKey) {
			if cross {
				return boundary.Failure("rename refused: a directory can only be moved within its folder; move its files one by one")
			}
			return h.renameDir(fm, from, to, fromKey, toKey)
		}
		return h.s3Failure("rename", from, err)
	}
	if h.isDir(tm, toKey) {
		return boundary.Failure("rename refused: a directory has the target name")
	}
	exists, err := h.fileExists(tm, to, toKey)
	if err != nil {
		return err
	}
	switch {
	case exists && !tm.Perms.Has(auth.PermOverwrite):
		return boundary.Overwrite(h.canSee(tm), "rename", "target")
	case exists && !posix && !completes && h.canSee(tm):
		return boundary.Conflict("rename refused: target exists, and a plain rename never replaces a file; delete the target first, or use posix-rename to replace it")
	case exists && !posix && !completes:
		return boundary.Conflict("rename refused: a plain rename cannot replace the target; delete it first, or use posix-rename to replace it")
	}
	meta, err := h.renamedMetadata(fm, tm, fromKey, toKey, head.Metadata)
	if err != nil {
		return h.s3Failure("rename", from, err)
	}
	mtime, _ := h.heldMtime(from) // WinSCP's time on name.filepart: stored by this copy, not a copy of its own
	if err := h.copyObject(fm, tm, fromKey, toKey, head.Size, head.ETag, head.ContentType, objfmt.WithMtime(meta, mtime)); err != nil {
		return h.s3Failure("rename", from, err, toKey)
	}
	h.takeMtime(from)
	h.moveUploaded(from, to)
	if err := h.fs.obj.Delete(h.ctx, fm.Bucket, fromKey); err != nil {
		h.s3Failure("rename", from, fmt.Errorf("delete %s after copy: %w", fromKey, err))
		return boundary.Failure("rename incomplete: the file was copied to the new name but the old name could not be removed")
	}
	return nil
}

// completesUpload reports whether renaming from to toKey moves a temporary
// file onto its final name.
func (h *handlers) completesUpload(from string, m *vfs.Mount, toKey string) bool {
	final, temp := h.fs.temps.Final(from)
	if !temp {
		return false
	}
	finalKey, ok := h.keyIn(m, final)
	return ok && finalKey == toKey
}

// mayRename checks the permission a rename needs: rename, or write for the
// completion of a temporary upload that is pending or that this session
// stored (a drop box user may finish its own WinSCP upload, not move others'
// files).
func (h *handlers) mayRename(m *vfs.Mount, from, fromKey string, completes bool) error {
	if completes && m.Perms.Has(auth.PermWrite) {
		if _, pending := h.fs.pending.Info(m.Bucket, fromKey); pending || h.uploadedHere(from) {
			return nil
		}
	}
	return h.require(m, auth.PermRename, "rename", from)
}

// renameDir moves a small directory of m object by object.
func (h *handlers) renameDir(m *vfs.Mount, from, to, fromKey, toKey string) error {
	if strings.HasPrefix(toKey+"/", fromKey+"/") {
		return boundary.Failure("rename refused: cannot move a directory into itself")
	}
	if exists, err := h.fileExists(m, to, toKey); err != nil || exists || h.isDir(m, toKey) {
		if err != nil {
			return err
		}
		return boundary.Failure("rename refused: target already exists")
	}
	out, err := h.fs.obj.List(h.ctx, store.ListRequest{Bucket: m.Bucket, Prefix: fromKey + "/", MaxKeys: maxDirRename + 1})
	if err != nil {
		return h.s3Failure("rename", from, err)
	}
	if len(out.Objects) > maxDirRename {
		return boundary.Failure(fmt.Sprintf("rename refused: directory holds more than %d files; move them one by one", maxDirRename))
	}
	for _, obj := range out.Objects {
		src := obj.Key
		dst := toKey + "/" + strings.TrimPrefix(src, fromKey+"/")
		if len(dst) > vfs.MaxKeyLen {
			return vfs.ErrKeyTooLong
		}
		var err error
		if keptime.IsIndex(src) { // the copies of the files enter their times in the new folder's index
			continue
		}
		if strings.HasSuffix(src, "/") { // a directory marker: make a new one with its time (some stores refuse to copy them)
			err = h.fs.times.PutMarker(h.ctx, m.Bucket, dst, h.fs.times.MarkerTime(h.ctx, m.Bucket, src, obj.LastModified))
		} else {
			err = h.copyRebound(m, src, dst, obj.Size, obj.ETag)
		}
		if err != nil {
			return h.s3Failure("rename", from, err, src, dst)
		}
	}
	for _, obj := range out.Objects {
		if err := h.fs.obj.Delete(h.ctx, m.Bucket, obj.Key); err != nil {
			h.s3Failure("rename", from, fmt.Errorf("delete %s after copy: %w", obj.Key, err), obj.Key)
			return boundary.Failure("rename incomplete: files were copied to the new name but some old names could not be removed")
		}
	}
	return nil
}

// renamedMetadata is the metadata of an object moved from fromKey of fm to
// toKey of tm: an envelope-encrypted object's data key is bound to its
// place and name, so it is wrapped again for the new ones (the body is not
// touched). Other metadata is returned as it is.
func (h *handlers) renamedMetadata(fm, tm *vfs.Mount, fromKey, toKey string, meta map[string]string) (map[string]string, error) {
	if !objfmt.Encrypted(meta) {
		return meta, nil
	}
	if err := h.fs.seal.CheckFormat(meta); err != nil { // a rename must not turn it into a bound version 2
		return nil, err
	}
	return h.fs.seal.Rebind(h.ctx, meta, sealing.Binding(fm.Bucket, fm.Prefix, fromKey), sealing.Binding(tm.Bucket, tm.Prefix, toKey))
}

// copyRebound copies one object of a directory rename, its data key bound
// to the new name when it is envelope-encrypted (a HEAD tells, when the
// gateway has keys at all).
func (h *handlers) copyRebound(m *vfs.Mount, from, to string, size int64, etag string) error {
	if !h.fs.seal.Configured() {
		return h.copyObject(m, m, from, to, size, etag, "", nil)
	}
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: m.Bucket, Key: from, IfMatch: etag})
	if err != nil {
		return fmt.Errorf("head %s before copy: %w", from, err)
	}
	if !objfmt.Encrypted(head.Metadata) {
		return h.copyObject(m, m, from, to, size, etag, "", nil)
	}
	meta, err := h.renamedMetadata(m, m, from, to, head.Metadata)
	if err != nil {
		return err
	}
	return h.copyObject(m, m, from, to, size, etag, head.ContentType, meta)
}

// copyObject copies from fm's bucket to tm's (store.Copy keeps the
// metadata and tags, and applies the server-side encryption). Objects over
// copyLimit are copied part by part, in parallel: one CopyObject streams at
// a single connection's speed, so a 2 GiB WinSCP ".filepart" rename would
// add a large share of the upload's time. meta, when not nil, replaces the
// metadata (a rename that stores a held mtime); nil keeps the source's. The
// source must still have the ETag seen when the rename started.
func (h *handlers) copyObject(fm, tm *vfs.Mount, from, to string, size int64, etag, contentType string, meta map[string]string) error {
	_, err := h.fs.obj.Copy(h.ctx, store.CopyRequest{
		Bucket: tm.Bucket, FromBucket: fm.Bucket, From: from, To: to, IfMatch: etag, Size: size,
		Metadata: meta, ContentType: contentType,
		PartsAbove: h.fs.copyLimit, PartsMetadata: objfmt.UploadMarker(),
	})
	return err
}
