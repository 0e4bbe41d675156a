package s3fs

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/vfs"
)

const (
	// maxDirRename is the most objects a directory rename copies. S3 has no
	// rename: each object is copied and deleted, so a big tree would take long
	// and could stop half-way; beyond this the partner is asked to move files.
	maxDirRename = 100
	// copyPartSize is the part size of a multipart copy, used for objects
	// bigger than one part (see copyObject).
	copyPartSize   = 128 << 20
	copiesInFlight = 8
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
		return denied("rename refused: the home directory cannot be renamed or replaced")
	}
	if fromKey == toKey {
		return nil
	}
	if u := h.fs.pending.Take(h.home.Bucket, fromKey); u != nil {
		return h.commitPending(u, to, toKey, fromKey, rec)
	}
	head, err := h.fs.s3.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: h.bucket(), Key: &fromKey})
	if err != nil {
		if isNotFound(err) && h.isDir(fromKey) {
			return h.renameDir(from, to, fromKey, toKey)
		}
		return h.s3Failure("rename", from, err)
	}
	if h.isDir(toKey) {
		return failure("rename refused: a directory has the target name")
	}
	exists, err := h.fileExists(to, toKey)
	if err != nil {
		return err
	}
	switch {
	case exists && !h.home.Perms.Has(auth.PermOverwrite):
		return h.refuseOverwrite("rename", "target")
	case exists && !posix && !completes && h.canSee():
		return conflict("rename refused: target exists, and a plain rename never replaces a file; delete the target first, or use posix-rename to replace it")
	case exists && !posix && !completes:
		return conflict("rename refused: a plain rename cannot replace the target; delete it first, or use posix-rename to replace it")
	}
	meta, err := h.renamedMetadata(fromKey, toKey, head.Metadata)
	if err != nil {
		return h.s3Failure("rename", from, err)
	}
	mtime, _ := h.heldMtime(from) // WinSCP's time on name.filepart: stored by this copy, not a copy of its own
	if err := h.copyObject(fromKey, toKey, aws.ToInt64(head.ContentLength), head.ETag, objfmt.WithMtime(meta, mtime)); err != nil {
		return h.s3Failure("rename", from, err, toKey)
	}
	h.takeMtime(from)
	h.moveUploaded(from, to)
	if _, err := h.fs.s3.DeleteObject(h.ctx, &s3.DeleteObjectInput{Bucket: h.bucket(), Key: &fromKey}); err != nil {
		h.s3Failure("rename", from, fmt.Errorf("delete %s after copy: %w", fromKey, err))
		return failure("rename incomplete: the file was copied to the new name but the old name could not be removed")
	}
	return nil
}

// completesUpload reports whether renaming from to toKey moves a temporary
// file onto its final name.
func (h *handlers) completesUpload(from, toKey string) bool {
	final, temp := h.fs.finalName(from)
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
		return failure("rename refused: cannot move a directory into itself")
	}
	if exists, err := h.fileExists(to, toKey); err != nil || exists || h.isDir(toKey) {
		if err != nil {
			return err
		}
		return failure("rename refused: target already exists")
	}
	out, err := h.fs.s3.ListObjectsV2(h.ctx, &s3.ListObjectsV2Input{
		Bucket: h.bucket(), Prefix: aws.String(fromKey + "/"), MaxKeys: aws.Int32(maxDirRename + 1),
	})
	if err != nil {
		return h.s3Failure("rename", from, err)
	}
	if len(out.Contents) > maxDirRename {
		return failure(fmt.Sprintf("rename refused: directory holds more than %d files; move them one by one", maxDirRename))
	}
	for _, obj := range out.Contents {
		src := aws.ToString(obj.Key)
		dst := toKey + "/" + strings.TrimPrefix(src, fromKey+"/")
		if len(dst) > vfs.MaxKeyLen {
			return vfs.ErrKeyTooLong
		}
		var err error
		if strings.HasSuffix(src, "/") { // a directory marker: make a new one with its time (some stores refuse to copy them)
			err = h.putMarker(dst, h.markerTime(src, obj.LastModified))
		} else {
			err = h.copyRebound(src, dst, aws.ToInt64(obj.Size), obj.ETag)
		}
		if err != nil {
			return h.s3Failure("rename", from, err, src, dst)
		}
	}
	for _, obj := range out.Contents {
		if _, err := h.fs.s3.DeleteObject(h.ctx, &s3.DeleteObjectInput{Bucket: h.bucket(), Key: obj.Key}); err != nil {
			h.s3Failure("rename", from, fmt.Errorf("delete %s after copy: %w", aws.ToString(obj.Key), err), aws.ToString(obj.Key))
			return failure("rename incomplete: files were copied to the new name but some old names could not be removed")
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
	if err := h.fs.checkFormat(meta); err != nil { // a rename must not turn it into a bound version 2
		return nil, err
	}
	return h.fs.rebind(h.ctx, meta, binding(h.tenant, fromKey), binding(h.tenant, toKey))
}

// copyRebound copies one object of a directory rename, its data key bound
// to the new name when it is envelope-encrypted (a HEAD tells, when the
// gateway has keys at all).
func (h *handlers) copyRebound(from, to string, size int64, etag *string) error {
	if h.fs.keys == nil && h.fs.kms == nil {
		return h.copyObject(from, to, size, etag, nil)
	}
	head, err := h.fs.s3.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: h.bucket(), Key: &from, IfMatch: etag})
	if err != nil {
		return fmt.Errorf("head %s before copy: %w", from, err)
	}
	if !objfmt.Encrypted(head.Metadata) {
		return h.copyObject(from, to, size, etag, nil)
	}
	meta, err := h.renamedMetadata(from, to, head.Metadata)
	if err != nil {
		return err
	}
	return h.copyObject(from, to, size, etag, meta)
}

// copyObject copies within the tenant's bucket with server-side encryption.
// Objects over copyPartSize are copied as a multipart copy, copiesInFlight
// parts at once: one CopyObject streams at a single connection's speed, so a
// 2 GiB WinSCP ".filepart" rename would add a large share of the upload's
// time. meta, when not nil, replaces the metadata (a rename that stores a
// held mtime); nil keeps the source's. The source must still have the ETag
// seen when the rename started.
func (h *handlers) copyObject(from, to string, size int64, etag *string, meta map[string]string) error {
	if size > h.fs.copyLimit {
		err := h.multipartCopy(from, to, size, etag, meta)
		if err == nil || size > maxPartSize {
			return err
		}
		// some S3-compatible stores lack UploadPartCopy (the embedded one does): one CopyObject still can
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "multipart copy failed, copying whole", slog.String("err", h.cause(err, from, to)))
	}
	src := copySource(h.home.Bucket, from)
	in := &s3.CopyObjectInput{
		Bucket: h.bucket(), Key: &to, CopySource: &src, CopySourceIfMatch: etag,
		MetadataDirective:    types.MetadataDirectiveCopy,
		ServerSideEncryption: h.fs.enc.mode(), SSEKMSKeyId: h.fs.enc.keyID(),
	}
	if meta != nil {
		in.MetadataDirective, in.Metadata = types.MetadataDirectiveReplace, meta
	}
	if _, err := h.fs.s3.CopyObject(h.ctx, in); err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return nil
}

// multipartCopy copies part by part. Unlike CopyObject it keeps nothing by
// itself: the source's user metadata (an envelope-encrypted object's wrapped
// data key among it), or meta when not nil, and its tags (the SHA-256) are
// set on the new object.
func (h *handlers) multipartCopy(from, to string, size int64, etag *string, meta map[string]string) error {
	head, err := h.fs.s3.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: h.bucket(), Key: &from, IfMatch: etag})
	if err != nil {
		return fmt.Errorf("head %s before multipart copy: %w", from, err)
	}
	if meta == nil {
		meta = head.Metadata
	}
	return h.fs.multipartCopyWith(h.ctx, h.home.Bucket, from, to, size, etag, meta, h.tagsOf(from, head))
}

// multipartCopyWith is a multipart copy in bucket whose new object gets user
// metadata metadata (plus the upload marker) and the URL-encoded tags tagging.
// It is an FS method, not a session's, so that rewrap reaches it without a
// session; ctx carries a session's tenant when a session copies (store.WithTenant).
func (fs *FS) multipartCopyWith(ctx context.Context, bucket, from, to string, size int64, etag *string, metadata map[string]string, tagging *string) error {
	src := copySource(bucket, from)
	partSize := max(int64(copyPartSize), (size+maxParts-1)/maxParts)
	created, err := fs.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &bucket, Key: &to, ServerSideEncryption: fs.enc.mode(), SSEKMSKeyId: fs.enc.keyID(),
		Metadata: copyMeta(metadata), Tagging: tagging,
	})
	if err != nil {
		return fmt.Errorf("create multipart copy %s: %w", to, err)
	}
	defer fs.track(created.UploadId)()
	nparts := (size + partSize - 1) / partSize
	parts := make([]types.CompletedPart, nparts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copiesInFlight)
	for i := range nparts {
		g.Go(func() error {
			first := i * partSize
			last := min(first+partSize, size) - 1
			out, err := fs.s3.UploadPartCopy(gctx, &s3.UploadPartCopyInput{
				Bucket: &bucket, Key: &to, UploadId: created.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				CopySource: &src, CopySourceIfMatch: etag, CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err != nil {
				return fmt.Errorf("copy part %d to %s: %w", i+1, to, err)
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		_, err = fs.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &bucket, Key: &to, UploadId: created.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		fs.s3.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &to, UploadId: created.UploadId})
		return fmt.Errorf("multipart copy to %s: %w", to, err)
	}
	return nil
}

// copySource is the x-amz-copy-source value: bucket/key with every byte but
// unreserved ones and "/" percent-encoded (S3 decodes it; "+" must not become a space).
func copySource(bucket, key string) string {
	var b strings.Builder
	b.WriteString(bucket)
	b.WriteByte('/')
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// copyMeta is the metadata of a multipart copy: the source's (a multipart
// copy has no COPY directive), marked as s3sftpd's upload (objfmt.UploadMarker).
func copyMeta(meta map[string]string) map[string]string {
	m := maps.Clone(meta)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, objfmt.UploadMarker())
	return m
}
