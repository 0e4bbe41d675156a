package s3fs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
)

// sha256Name is where the SHA-256 of an object's content is kept: user
// metadata (x-amz-meta-s3sftpd-sha256) on objects stored with one PutObject,
// an object tag on multipart ones. A multipart upload's metadata is fixed
// when it is created, before a byte is hashed; rewriting it afterwards would
// copy the whole object and, in a versioned bucket, keep it twice. A tag is
// one small request on the version just written, and copies carry it along.
const sha256Name = "s3sftpd-sha256"

// objectTags are the object's tags, read only when it may have some of ours:
// a multipart object (its SHA-256) or one whose time may be in a tag.
func (h *handlers) objectTags(key string, head *s3.HeadObjectOutput) map[string]string {
	if !strings.Contains(aws.ToString(head.ETag), "-") && !h.fs.timeInTag(head) {
		return nil
	}
	out, err := h.fs.s3.GetObjectTagging(h.ctx, &s3.GetObjectTaggingInput{Bucket: h.bucket(), Key: &key, VersionId: head.VersionId})
	if err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelDebug, "reading object tags failed", slog.String("err", h.cause(err, key)))
		return nil
	}
	tags := map[string]string{}
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags
}

// storedSHA256 is the SHA-256 recorded when the object was uploaded, or ""
// when it has none (written by another tool, or the store keeps no tags).
func (h *handlers) storedSHA256(key string, head *s3.HeadObjectOutput) string {
	if sum := head.Metadata[sha256Name]; sum != "" {
		return sum
	}
	return h.objectTags(key, head)[sha256Name]
}

// tagsOf is the SHA-256 and time tags of an object, URL-encoded as a new
// upload's Tagging wants them (a multipart copy keeps no tags by itself), or
// nil when it has none.
func (h *handlers) tagsOf(key string, head *s3.HeadObjectOutput) *string {
	tags := h.objectTags(key, head)
	v := url.Values{}
	for _, name := range []string{sha256Name, mtimeMeta} {
		if s := tags[name]; s != "" {
			v.Set(name, s)
		}
	}
	if len(v) == 0 {
		return nil
	}
	return aws.String(v.Encode())
}

// errCorrupt is a download whose bytes do not hash to the SHA-256 stored at
// upload: the last block is withheld, so the client sees a failed transfer.
var errCorrupt = errors.New("content does not match the SHA-256 recorded at upload")

// SHA256 answers a client's check-file request (sftpd.FileHasher) with the
// SHA-256 recorded at upload, without reading the file. It needs download
// permission: a hash lets one confirm a guess of the content. Under envelope
// encryption no hash is kept in the clear (see sha256Metadata), so the
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
		return nil, errAuditDown
	}
	return sum, err
}

func (h *handlers) storedSum(p string, rec *audit.Record) ([]byte, error) {
	key, err := h.home.Key(p)
	if err != nil {
		return nil, err
	}
	rec.Key = key
	if err := h.auditReady(); err != nil {
		return nil, err
	}
	if err := h.require(auth.PermRead, "checksum", p); err != nil {
		return nil, err
	}
	head, err := h.fs.s3.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: h.bucket(), Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, errNoSuchFile
		}
		return nil, h.s3Failure("checksum", p, err)
	}
	sum, err := hex.DecodeString(h.storedSHA256(key, head))
	switch {
	case err == nil && len(sum) == sha256.Size:
		return sum, nil
	case h.fs.envelope:
		return nil, unsupported("checksum unavailable: files are encrypted at the gateway and no checksum is kept in the clear")
	}
	return nil, unsupported("checksum unavailable: no SHA-256 was recorded when this file was uploaded")
}
