package s3fs

import (
	"encoding/hex"
	"log/slog"
	"strings"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// objectTags are the object's tags, read only when it may have some of ours:
// a multipart object (its SHA-256) or one whose time may be in a tag.
func (h *handlers) objectTags(m *vfs.Mount, key string, head store.Object) map[string]string {
	if !strings.Contains(head.ETag, "-") && !h.fs.times.InTag(head) {
		return nil
	}
	tags, err := h.fs.obj.Tags(h.ctx, m.Bucket, key, head.VersionID)
	if err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelDebug, "reading object tags failed", slog.String("err", h.cause(err, key)))
		return nil
	}
	return tags
}

// storedSHA256 is the SHA-256 recorded when the object was uploaded, or ""
// when it has none (written by another tool, or the store keeps no tags).
func (h *handlers) storedSHA256(m *vfs.Mount, key string, head store.Object) string {
	if sum := head.Metadata[objfmt.MetaSHA256]; sum != "" {
		return sum
	}
	return h.objectTags(m, key, head)[objfmt.MetaSHA256]
}

// SHA256 answers a client's check-file request (sftpext.FileHasher) with the
// SHA-256 recorded at upload, without reading the file. It needs download
// permission: a hash lets one confirm a guess of the content. Under envelope
// encryption no hash is kept in the clear (see objfmt.MetaSHA256), so the
// answer is op-unsupported; so it is for a file another tool wrote. Like a
// download it is recorded in the audit trail, and refused while the trail
// cannot be written.
func (h *handlers) SHA256(p string) ([]byte, error) {
	rec := audit.Record{Event: audit.EventChecksum, Path: p} // the trail bounds a long path (audit.Bound)
	sum, err := h.storedSum(p, &rec)
	if err == nil {
		rec.SHA256 = hex.EncodeToString(sum)
	}
	if aerr := h.record(rec, err); aerr != nil && err == nil {
		return nil, boundary.ErrAuditDown
	}
	return sum, err
}

func (h *handlers) storedSum(p string, rec *audit.Record) ([]byte, error) {
	pl, err := h.at(p, rec)
	if err != nil {
		return nil, err
	}
	if err := h.auditReady(); err != nil {
		return nil, err
	}
	m, key := pl.Mount, pl.Key
	if m == nil || pl.Virtual {
		return nil, boundary.ErrNoSuchFile
	}
	if err := h.require(m, auth.PermRead, "checksum", p); err != nil {
		return nil, err
	}
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: m.Bucket, Key: key})
	if err != nil {
		if isNotFound(err) {
			return nil, boundary.ErrNoSuchFile
		}
		return nil, h.s3Failure("checksum", p, err)
	}
	sum, ok := objfmt.ParseSHA256(h.storedSHA256(m, key, head))
	switch {
	case ok:
		return sum, nil
	case h.fs.seal.Envelope():
		return nil, boundary.Unsupported("checksum unavailable: files are encrypted at the gateway and no checksum is kept in the clear")
	}
	return nil, boundary.Unsupported("checksum unavailable: no SHA-256 was recorded when this file was uploaded")
}
