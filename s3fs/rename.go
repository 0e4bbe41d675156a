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
// but stat shows none to a user who cannot list.
func (h *handlers) rename(from, to, fromKey string, posix bool, rec *audit.Record) error {
	toKey, err := h.home.Key(to)
	if err != nil {
		return err
	}
	completes := h.completesUpload(from, toKey)
	if err := h.mayRename(from, fromKey, completes); err != nil {
		return err
	}
	if h.home.IsRoot(fromKey) || h.home.IsRoot(toKey) {
		return boundary.Denied("rename refused: the home directory cannot be renamed or replaced")
	}
	if fromKey == toKey {
		return nil
	}
	if u := h.fs.pending.Take(h.home.Bucket, fromKey); u != nil {
		return h.commitPending(u, to, toKey, fromKey, rec)
	}
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: h.home.Bucket, Key: fromKey})
	if err != nil {
		if isNotFound(err) && h.isDir(fromKey) {
			return h.renameDir(from, to, fromKey, toKey)
		}
		return h.s3Failure("rename", from, err)
	}
	if h.isDir(toKey) {
		return boundary.Failure("rename refused: a directory has the target name")
	}
	exists, err := h.fileExists(to, toKey)
	if err != nil {
		return err
	}
	switch {
	case exists && !h.home.Perms.Has(auth.PermOverwrite):
		return h.refuseOverwrite("rename", "target")
	case exists && !posix && !completes && h.canSee():
		return boundary.Conflict("rename refused: target exists, and a plain rename never replaces a file; delete the target first, or use posix-rename to replace it")
	case exists && !posix && !completes:
		return boundary.Conflict("rename refused: a plain rename cannot replace the target; delete it first, or use posix-rename to replace it")
	}
	meta, err := h.renamedMetadata(fromKey, toKey, head.Metadata)
	if err != nil {
		return h.s3Failure("rename", from, err)
	}
	mtime, _ := h.heldMtime(from) // WinSCP's time on name.filepart: stored by this copy, not a copy of its own
	if err := h.copyObject(fromKey, toKey, head.Size, head.ETag, head.ContentType, objfmt.WithMtime(meta, mtime)); err != nil {
		return h.s3Failure("rename", from, err, toKey)
	}
	h.takeMtime(from)
	h.moveUploaded(from, to)
	if err := h.fs.obj.Delete(h.ctx, h.home.Bucket, fromKey); err != nil {
		h.s3Failure("rename", from, fmt.Errorf("delete %s after copy: %w", fromKey, err))
		return boundary.Failure("rename incomplete: the file was copied to the new name but the old name could not be removed")
	}
	return nil
}

// completesUpload reports whether renaming from to toKey moves a temporary
// file onto its final name.
func (h *handlers) completesUpload(from, toKey string) bool {
	final, temp := h.fs.temps.Final(from)
	if !temp {
		return false
	}
	finalKey, err := h.home.Key(final)
	return err == nil && finalKey == toKey
}

// mayRename checks the permission a rename needs: rename, or write for the
// completion of a temporary upload that is pending or that this session
// stored (a drop box user may finish its own WinSCP upload, not move others'
// files).
func (h *handlers) mayRename(from, fromKey string, completes bool) error {
	if completes && h.home.Perms.Has(auth.PermWrite) {
		if _, pending := h.fs.pending.Info(h.home.Bucket, fromKey); pending || h.uploadedHere(from) {
			return nil
		}
	}
	return h.require(auth.PermRename, "rename", from)
}

// renameDir moves a small directory object by object.
func (h *handlers) renameDir(from, to, fromKey, toKey string) error {
	if strings.HasPrefix(toKey+"/", fromKey+"/") {
		return boundary.Failure("rename refused: cannot move a directory into itself")
	}
	if exists, err := h.fileExists(to, toKey); err != nil || exists || h.isDir(toKey) {
		if err != nil {
			return err
		}
		return boundary.Failure("rename refused: target already exists")
	}
	out, err := h.fs.obj.List(h.ctx, store.ListRequest{Bucket: h.home.Bucket, Prefix: fromKey + "/", MaxKeys: maxDirRename + 1})
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
			err = h.fs.times.PutMarker(h.ctx, h.home.Bucket, dst, h.fs.times.MarkerTime(h.ctx, h.home.Bucket, src, obj.LastModified))
		} else {
			err = h.copyRebound(src, dst, obj.Size, obj.ETag)
		}
		if err != nil {
			return h.s3Failure("rename", from, err, src, dst)
		}
	}
	for _, obj := range out.Objects {
		if err := h.fs.obj.Delete(h.ctx, h.home.Bucket, obj.Key); err != nil {
			h.s3Failure("rename", from, fmt.Errorf("delete %s after copy: %w", obj.Key, err), obj.Key)
			return boundary.Failure("rename incomplete: files were copied to the new name but some old names could not be removed")
		}
	}
	return nil
}

// renamedMetadata is the metadata of an object moved from fromKey to toKey:
// an envelope-encrypted object's data key is bound to its name, so it is
// wrapped again for the new one (the body is not touched). Other metadata
// is returned as it is.
func (h *handlers) renamedMetadata(fromKey, toKey string, meta map[string]string) (map[string]string, error) {
	if !objfmt.Encrypted(meta) {
		return meta, nil
	}
	if err := h.fs.seal.CheckFormat(meta); err != nil { // a rename must not turn it into a bound version 2
		return nil, err
	}
	return h.fs.seal.Rebind(h.ctx, meta, sealing.Binding(h.home.Bucket, h.home.Prefix, fromKey), sealing.Binding(h.home.Bucket, h.home.Prefix, toKey))
}

// copyRebound copies one object of a directory rename, its data key bound
// to the new name when it is envelope-encrypted (a HEAD tells, when the
// gateway has keys at all).
func (h *handlers) copyRebound(from, to string, size int64, etag string) error {
	if !h.fs.seal.Configured() {
		return h.copyObject(from, to, size, etag, "", nil)
	}
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: h.home.Bucket, Key: from, IfMatch: etag})
	if err != nil {
		return fmt.Errorf("head %s before copy: %w", from, err)
	}
	if !objfmt.Encrypted(head.Metadata) {
		return h.copyObject(from, to, size, etag, "", nil)
	}
	meta, err := h.renamedMetadata(from, to, head.Metadata)
	if err != nil {
		return err
	}
	return h.copyObject(from, to, size, etag, head.ContentType, meta)
}

// copyObject copies within the tenant's bucket (store.Copy keeps the
// metadata and tags, and applies the server-side encryption). Objects over
// copyLimit are copied part by part, in parallel: one CopyObject streams at
// a single connection's speed, so a 2 GiB WinSCP ".filepart" rename would
// add a large share of the upload's time. meta, when not nil, replaces the
// metadata (a rename that stores a held mtime); nil keeps the source's. The
// source must still have the ETag seen when the rename started.
func (h *handlers) copyObject(from, to string, size int64, etag, contentType string, meta map[string]string) error {
	_, err := h.fs.obj.Copy(h.ctx, store.CopyRequest{
		Bucket: h.home.Bucket, From: from, To: to, IfMatch: etag, Size: size,
		Metadata: meta, ContentType: contentType,
		PartsAbove: h.fs.copyLimit, PartsMetadata: objfmt.UploadMarker(),
	})
	return err
}
