package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// Objects is the object API of s3fs and the operator tools, in the store's
// own plain types: store shapes every S3 request from them, and adds the
// server-side encryption and checksum mode of its Config to every write, so
// no caller builds an SDK request or forgets the encryption. Each call runs
// as the tenant its context carries (WithTenant). Tests wrap it to inject
// faults.
type Objects interface {
	Head(ctx context.Context, r HeadRequest) (Object, error)
	Get(ctx context.Context, r GetRequest) (Reading, error)
	Put(ctx context.Context, r PutRequest) (Written, error)
	Copy(ctx context.Context, r CopyRequest) (Written, error)
	Delete(ctx context.Context, bucket, key string) error
	// DeleteExact deletes exactly one version of an object (see
	// DeleteRequest): a pickup's or a retention's delete.
	DeleteExact(ctx context.Context, r DeleteRequest) error
	List(ctx context.Context, r ListRequest) (ListPage, error)

	CreateMultipart(ctx context.Context, r CreateRequest) (Multipart, error)
	UploadPart(ctx context.Context, r PartRequest) (Part, error)
	Complete(ctx context.Context, r CompleteRequest) (Written, error)
	Abort(ctx context.Context, bucket, key, uploadID string) error
	ListMultipartUploads(ctx context.Context, r UploadsRequest) (UploadsPage, error)

	// Tags is every tag of one version of an object ("" is the current one).
	Tags(ctx context.Context, bucket, key, versionID string) (map[string]string, error)
	// PutTags replaces the tags of one version of an object.
	PutTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) error
}

// HeadRequest names the object a HEAD asks of. IfMatch, when set, makes it
// fail with IsPrecondition unless the object still has that ETag.
type HeadRequest struct {
	Bucket, Key, VersionID, IfMatch string
}

// GetRequest names the object, and the bytes of it, a GET reads.
type GetRequest struct {
	Bucket, Key, VersionID string
	IfMatch                string // as in HeadRequest
	Range                  *Range // nil reads the whole object
}

// Range is bytes First..Last of an object, both included.
type Range struct{ First, Last int64 }

// Reading is an object being read: what S3 told of it (Size is the length
// of the body), and its body, which the caller closes.
type Reading struct {
	Object
	Body io.ReadCloser
}

// PutRequest stores Body as one object. IfNoneMatch makes it fail with
// IsPrecondition when the name is taken; IfMatch, when set, unless the
// object there still has that ETag.
type PutRequest struct {
	Bucket, Key string
	Body        []byte
	Metadata    map[string]string
	ContentType string
	IfNoneMatch bool
	IfMatch     string
}

// DeleteRequest deletes the version VersionID of Key, for good (no delete
// marker: the bytes are gone), or, without a version id (an unversioned
// bucket), the object only while it still has the ETag IfMatch: a store
// that honours If-Match on DeleteObject fails it with IsPrecondition when
// the object changed.
type DeleteRequest struct {
	Bucket, Key, VersionID, IfMatch string
}

// Written is what S3 answered a write of an object with.
type Written struct{ ETag, VersionID string }

// CopyRequest copies From onto To (which may be From itself) in Bucket,
// pinned to IfMatch when set. Metadata nil keeps the source's user metadata
// and content type; else they are replaced by Metadata and ContentType.
// Tags nil keeps the source's tags; else they are replaced by Tags.
type CopyRequest struct {
	Bucket, From, To, IfMatch string
	// FromBucket is the source's bucket when it is not Bucket (a rename
	// from one folder to another of a user); "" is Bucket.
	FromBucket  string
	Size        int64 // of the source: it decides how the copy is made
	Metadata    map[string]string
	ContentType string
	Tags        map[string]string
	// PartsAbove is the size above which the copy goes part by part,
	// copiesInFlight at once (one CopyObject streams at a single
	// connection's speed); 0 is 5 GiB, the most one CopyObject copies.
	// Below 5 GiB a store without part copies gets one CopyObject instead.
	PartsAbove int64
	// PartsMetadata is added to the metadata of a copy made part by part
	// (s3fs's upload marker: such a copy is a multipart upload).
	PartsMetadata map[string]string
}

// source is the bucket a copy reads from.
func (r CopyRequest) source() string {
	if r.FromBucket != "" {
		return r.FromBucket
	}
	return r.Bucket
}

// ListRequest is one page of a listing: up to MaxKeys (0: the store's
// 1000) objects under Prefix, grouped by Delimiter when it is set, from
// Token (the NextToken of the page before; "" starts).
type ListRequest struct {
	Bucket, Prefix, Delimiter, Token string
	StartAfter                       string // the page begins after this key
	MaxKeys                          int32
}

// ListPage is one page of a listing. Its Objects have Key, Size, ETag and
// LastModified; NextToken is "" on the last page.
type ListPage struct {
	Objects   []Object
	Prefixes  []string // common prefixes, with the delimiter at their end
	NextToken string
}

// CreateRequest starts a multipart upload of Key. Metadata and Tags are the
// completed object's.
type CreateRequest struct {
	Bucket, Key string
	Metadata    map[string]string
	Tags        map[string]string
}

// Multipart is a started multipart upload. Retried is set when the SDK had
// to send the create more than once: an earlier try may have started an
// upload too, whose id no one knows.
type Multipart struct {
	UploadID string
	Retried  bool
}

// PartRequest uploads Body as part Number of an upload.
type PartRequest struct {
	Bucket, Key, UploadID string
	Number                int32
	Body                  []byte
}

// Part is a part S3 has stored; Complete wants every one.
type Part struct {
	Number int32
	ETag   string
	CRC32C string // in checksum mode "aws", as S3 computed it
}

// CompleteRequest commits an upload of Parts (in any order). CRC32C, in
// checksum mode "aws", is the whole object's (base64, as S3 spells it) and
// Size its length: S3 refuses parts that do not add up to them.
type CompleteRequest struct {
	Bucket, Key, UploadID string
	Parts                 []Part
	IfNoneMatch           bool // as in PutRequest
	CRC32C                string
	Size                  int64
}

// UploadsRequest is one page of the multipart uploads in progress under
// Prefix, from the markers of the page before.
type UploadsRequest struct {
	Bucket, Prefix            string
	KeyMarker, UploadIDMarker string
	MaxUploads                int32 // 0: the store's 1000
}

// UploadsPage is one page of uploads in progress. Truncated says more
// follow, from NextKeyMarker and NextUploadIDMarker.
type UploadsPage struct {
	Uploads                           []Upload
	Truncated                         bool
	NextKeyMarker, NextUploadIDMarker string
}

// Upload is a multipart upload in progress.
type Upload struct {
	Key, UploadID string
	Initiated     time.Time
}

// Objects is the object API over the store's clients (see Objects).
func (s *Store) Objects() Objects { return NewObjects(s.roles, s.cfg) }

// NewObjects is the object API over api, with cfg's encryption and
// checksum mode; tests build one over an S3 they wrap.
func NewObjects(api S3, cfg Config) Objects {
	return &objects{api: api, cfg: cfg}
}

type objects struct {
	api S3
	cfg Config
}

// copiesInFlight is how many parts of one copy go at once.
const copiesInFlight = 8

const maxCopySize = 5 << 30 // the most one CopyObject or part copies

// abortTimeout bounds the abort of a failed multipart copy after its context ended.
const abortTimeout = 30 * time.Second

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (o *objects) sse() types.ServerSideEncryption { return types.ServerSideEncryption(o.cfg.SSE) }

func (o *objects) kmsKeyID() *string {
	if o.cfg.SSE == SSEKMS && o.cfg.KMSKeyID != "" {
		return aws.String(o.cfg.KMSKeyID)
	}
	return nil
}

func (o *objects) checksums() bool { return o.cfg.Checksums == ChecksumsAWS }

func (o *objects) Head(ctx context.Context, r HeadRequest) (Object, error) {
	out, err := o.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.Bucket, Key: &r.Key,
		VersionId: optional(r.VersionID), IfMatch: optional(r.IfMatch)})
	if err != nil {
		return Object{}, err
	}
	return Object{Key: r.Key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag),
		VersionID: aws.ToString(out.VersionId), Metadata: out.Metadata,
		LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType)}, nil
}

func (o *objects) Get(ctx context.Context, r GetRequest) (Reading, error) {
	in := &s3.GetObjectInput{Bucket: &r.Bucket, Key: &r.Key, VersionId: optional(r.VersionID), IfMatch: optional(r.IfMatch)}
	if r.Range != nil {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", r.Range.First, r.Range.Last))
	}
	out, err := o.api.GetObject(ctx, in)
	if err != nil {
		return Reading{}, err
	}
	return Reading{Object: Object{Key: r.Key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag),
		VersionID: aws.ToString(out.VersionId), Metadata: out.Metadata,
		LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType)}, Body: out.Body}, nil
}

// Put sends the CRC32C of the body in checksum mode "aws" (S3 checks it).
func (o *objects) Put(ctx context.Context, r PutRequest) (Written, error) {
	in := &s3.PutObjectInput{
		Bucket: &r.Bucket, Key: &r.Key,
		Body: bytes.NewReader(r.Body), ContentLength: aws.Int64(int64(len(r.Body))), // a seekable body: plain http refuses others
		Metadata: r.Metadata, ContentType: optional(r.ContentType),
		ServerSideEncryption: o.sse(), SSEKMSKeyId: o.kmsKeyID(),
	}
	if o.checksums() {
		in.ChecksumCRC32C = aws.String(CRC32C(crc32.Checksum(r.Body, castagnoli)))
	}
	if r.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	in.IfMatch = optional(r.IfMatch)
	out, err := o.api.PutObject(ctx, in)
	if err != nil {
		return Written{}, err
	}
	return Written{aws.ToString(out.ETag), aws.ToString(out.VersionId)}, nil
}

// CRC32C is a CRC32C as S3 spells it: base64 of its big-endian bytes.
func CRC32C(sum uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
}

func (o *objects) Delete(ctx context.Context, bucket, key string) error {
	_, err := o.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
	return err
}

func (o *objects) DeleteExact(ctx context.Context, r DeleteRequest) error {
	in := &s3.DeleteObjectInput{Bucket: &r.Bucket, Key: &r.Key, VersionId: optional(r.VersionID)}
	if r.VersionID == "" {
		in.IfMatch = optional(r.IfMatch)
	}
	_, err := o.api.DeleteObject(ctx, in)
	return err
}

func (o *objects) List(ctx context.Context, r ListRequest) (ListPage, error) {
	in := &s3.ListObjectsV2Input{Bucket: &r.Bucket, Prefix: &r.Prefix, Delimiter: optional(r.Delimiter),
		ContinuationToken: optional(r.Token), StartAfter: optional(r.StartAfter)}
	if r.MaxKeys > 0 {
		in.MaxKeys = aws.Int32(r.MaxKeys)
	}
	out, err := o.api.ListObjectsV2(ctx, in)
	if err != nil {
		return ListPage{}, err
	}
	var page ListPage
	for _, cp := range out.CommonPrefixes {
		page.Prefixes = append(page.Prefixes, aws.ToString(cp.Prefix))
	}
	for _, obj := range out.Contents {
		page.Objects = append(page.Objects, Object{Key: aws.ToString(obj.Key), Size: aws.ToInt64(obj.Size),
			ETag: aws.ToString(obj.ETag), LastModified: aws.ToTime(obj.LastModified)})
	}
	if aws.ToBool(out.IsTruncated) {
		page.NextToken = aws.ToString(out.NextContinuationToken)
	}
	return page, nil
}

// CreateMultipart asks, in checksum mode "aws", for a full-object CRC32C.
func (o *objects) CreateMultipart(ctx context.Context, r CreateRequest) (Multipart, error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket: &r.Bucket, Key: &r.Key, Metadata: r.Metadata, Tagging: tagQuery(r.Tags),
		ServerSideEncryption: o.sse(), SSEKMSKeyId: o.kmsKeyID(),
	}
	if o.checksums() {
		in.ChecksumAlgorithm, in.ChecksumType = types.ChecksumAlgorithmCrc32c, types.ChecksumTypeFullObject
	}
	out, err := o.api.CreateMultipartUpload(ctx, in)
	if err != nil {
		return Multipart{}, err
	}
	tries, ok := retry.GetAttemptResults(out.ResultMetadata)
	return Multipart{UploadID: aws.ToString(out.UploadId), Retried: ok && len(tries.Results) > 1}, nil
}

func (o *objects) UploadPart(ctx context.Context, r PartRequest) (Part, error) {
	in := &s3.UploadPartInput{
		Bucket: &r.Bucket, Key: &r.Key, UploadId: &r.UploadID, PartNumber: aws.Int32(r.Number),
		ContentLength: aws.Int64(int64(len(r.Body))), Body: bytes.NewReader(r.Body),
	}
	if o.checksums() {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	}
	out, err := o.api.UploadPart(ctx, in)
	if err != nil {
		return Part{}, err
	}
	return Part{Number: r.Number, ETag: aws.ToString(out.ETag), CRC32C: aws.ToString(out.ChecksumCRC32C)}, nil
}

func (o *objects) Complete(ctx context.Context, r CompleteRequest) (Written, error) {
	parts := slices.Clone(r.Parts)
	slices.SortFunc(parts, func(a, b Part) int { return int(a.Number - b.Number) })
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag), ChecksumCRC32C: optional(p.CRC32C)}
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket: &r.Bucket, Key: &r.Key, UploadId: &r.UploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	}
	if r.CRC32C != "" {
		in.ChecksumType, in.ChecksumCRC32C, in.MpuObjectSize = types.ChecksumTypeFullObject, &r.CRC32C, aws.Int64(r.Size)
	}
	if r.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := o.api.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return Written{}, err
	}
	return Written{aws.ToString(out.ETag), aws.ToString(out.VersionId)}, nil
}

func (o *objects) Abort(ctx context.Context, bucket, key, uploadID string) error {
	_, err := o.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: &uploadID})
	return err
}

func (o *objects) ListMultipartUploads(ctx context.Context, r UploadsRequest) (UploadsPage, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: &r.Bucket, Prefix: &r.Prefix,
		KeyMarker: optional(r.KeyMarker), UploadIdMarker: optional(r.UploadIDMarker)}
	if r.MaxUploads > 0 {
		in.MaxUploads = aws.Int32(r.MaxUploads)
	}
	out, err := o.api.ListMultipartUploads(ctx, in)
	if err != nil {
		return UploadsPage{}, err
	}
	page := UploadsPage{Truncated: aws.ToBool(out.IsTruncated),
		NextKeyMarker: aws.ToString(out.NextKeyMarker), NextUploadIDMarker: aws.ToString(out.NextUploadIdMarker)}
	for _, u := range out.Uploads {
		page.Uploads = append(page.Uploads, Upload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId),
			Initiated: aws.ToTime(u.Initiated)})
	}
	return page, nil
}

func (o *objects) Tags(ctx context.Context, bucket, key, versionID string) (map[string]string, error) {
	out, err := o.api.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key, VersionId: optional(versionID)})
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

func (o *objects) PutTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) error {
	var set []types.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	_, err := o.api.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &bucket, Key: &key,
		VersionId: optional(versionID), Tagging: &types.Tagging{TagSet: set}})
	return err
}

// tagQuery is tags URL-encoded, as a create's or copy's Tagging wants
// them; nil when there are none.
func tagQuery(tags map[string]string) *string {
	if len(tags) == 0 {
		return nil
	}
	return aws.String(encodeTags(tags))
}

func encodeTags(tags map[string]string) string {
	v := url.Values{}
	for k, val := range tags {
		v.Set(k, val)
	}
	return v.Encode()
}

// Copy copies with one CopyObject up to PartsAbove, else part by part;
// either way the new object has the metadata and tags the request says
// (the source's, or the replacements), and the server-side encryption of
// the Config.
func (o *objects) Copy(ctx context.Context, r CopyRequest) (Written, error) {
	limit := r.PartsAbove
	if limit <= 0 || limit > maxCopySize {
		limit = maxCopySize
	}
	if r.Size > limit {
		w, err := o.copyParts(ctx, r)
		if err == nil || r.Size > maxCopySize {
			return w, err
		}
		// some S3-compatible stores lack UploadPartCopy (the embedded one does): one CopyObject still can
	}
	in := &s3.CopyObjectInput{
		Bucket: &r.Bucket, Key: &r.To, CopySource: aws.String(copySource(r.source(), r.From)), CopySourceIfMatch: optional(r.IfMatch),
		MetadataDirective:    types.MetadataDirectiveCopy,
		ServerSideEncryption: o.sse(), SSEKMSKeyId: o.kmsKeyID(),
	}
	if r.Metadata != nil {
		in.MetadataDirective, in.Metadata, in.ContentType = types.MetadataDirectiveReplace, r.Metadata, optional(r.ContentType)
	}
	if r.Tags != nil {
		in.TaggingDirective, in.Tagging = types.TaggingDirectiveReplace, aws.String(encodeTags(r.Tags))
	}
	out, err := o.api.CopyObject(ctx, in)
	if err != nil {
		return Written{}, fmt.Errorf("copy %s to %s: %w", r.From, r.To, err)
	}
	return Written{ETag: aws.ToString(out.CopyObjectResult.ETag), VersionID: aws.ToString(out.VersionId)}, nil
}

// copyParts is a multipart copy. Unlike CopyObject it keeps nothing by
// itself: the source's metadata (an envelope object's wrapped data key among
// it) and its tags (the SHA-256, a kept time) are read and set on the new
// object, unless the request replaces them. A store that keeps no tags
// (NotImplemented) copies none.
func (o *objects) copyParts(ctx context.Context, r CopyRequest) (Written, error) {
	meta, contentType, tags := r.Metadata, r.ContentType, r.Tags
	if meta == nil {
		head, err := o.Head(ctx, HeadRequest{Bucket: r.source(), Key: r.From, IfMatch: r.IfMatch})
		if err != nil {
			return Written{}, fmt.Errorf("head %s before multipart copy: %w", r.From, err)
		}
		meta, contentType = head.Metadata, head.ContentType
	}
	if tags == nil {
		var err error
		tags, err = o.Tags(ctx, r.source(), r.From, "")
		if err != nil && HTTPStatus(err) != http.StatusNotImplemented {
			return Written{}, fmt.Errorf("get tags of %s before multipart copy: %w", r.From, err)
		}
	}
	meta = maps.Clone(meta)
	if meta == nil {
		meta = map[string]string{}
	}
	maps.Copy(meta, r.PartsMetadata)
	created, err := o.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &r.Bucket, Key: &r.To, ServerSideEncryption: o.sse(), SSEKMSKeyId: o.kmsKeyID(),
		Metadata: meta, ContentType: optional(contentType), Tagging: tagQuery(tags),
	})
	if err != nil {
		return Written{}, fmt.Errorf("create multipart copy %s: %w", r.To, err)
	}
	const maxParts = 10000
	partSize := max(int64(128<<20), (r.Size+maxParts-1)/maxParts)
	nparts := (r.Size + partSize - 1) / partSize
	parts := make([]types.CompletedPart, nparts)
	src := copySource(r.source(), r.From)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copiesInFlight)
	for i := range nparts {
		g.Go(func() error {
			first := i * partSize
			last := min(first+partSize, r.Size) - 1
			out, err := o.api.UploadPartCopy(gctx, &s3.UploadPartCopyInput{
				Bucket: &r.Bucket, Key: &r.To, UploadId: created.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				CopySource: &src, CopySourceIfMatch: optional(r.IfMatch), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err != nil {
				return fmt.Errorf("copy part %d to %s: %w", i+1, r.To, err)
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			return nil
		})
	}
	err = g.Wait()
	var out *s3.CompleteMultipartUploadOutput
	if err == nil {
		out, err = o.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &r.Bucket, Key: &r.To, UploadId: created.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		o.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &r.Bucket, Key: &r.To, UploadId: created.UploadId})
		return Written{}, fmt.Errorf("multipart copy to %s: %w", r.To, err)
	}
	return Written{ETag: aws.ToString(out.ETag), VersionID: aws.ToString(out.VersionId)}, nil
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

// IsPrecondition reports a conditional request S3 refused: If-Match of a
// changed object, If-None-Match of a taken name.
func IsPrecondition(err error) bool {
	return HTTPStatus(err) == http.StatusPreconditionFailed || ErrorCode(err) == "PreconditionFailed"
}

// IsNotImplemented reports a call the store does not implement (the
// embedded store's tagging, for one).
func IsNotImplemented(err error) bool {
	return HTTPStatus(err) == http.StatusNotImplemented || ErrorCode(err) == "NotImplemented"
}
