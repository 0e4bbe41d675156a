package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The calls of cmd, ops and bench, with plain Go signatures. Each runs as
// the tenant its context carries (WithTenant), like every call through
// Store.S3, or as the gateway when it carries none.

// Object is what a listing or a HEAD tells of one object. A listing
// leaves Metadata, VersionID and ContentType empty.
type Object struct {
	Key          string
	Size         int64
	ETag         string
	VersionID    string
	Metadata     map[string]string // user metadata, as S3 returns it
	LastModified time.Time
	ContentType  string
}

// ErrExists is a PutNew of a name that is taken.
var ErrExists = errors.New("an object already has this name")

// client is the S3 client of ctx's tenant.
func (s *Store) client(ctx context.Context) (*s3.Client, error) {
	c, err := s.roles.client(ctx)
	if err != nil {
		return nil, fmt.Errorf("assume role: %w", err)
	}
	return c, nil
}

// Ready reports whether bucket answers a HEAD: the store is reachable, the
// credentials work and the bucket exists. Its error names the bucket.
func (s *Store) Ready(ctx context.Context, bucket string) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		return fmt.Errorf("head bucket %s: %w", bucket, err)
	}
	return nil
}

// MakeBucket creates bucket; one that exists and is the caller's already
// is no error.
func (s *Store) MakeBucket(ctx context.Context, bucket string) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// PutNew stores body as key in bucket only if the name is free (If-None-Match),
// with the server-side encryption of the Config. A taken name is ErrExists.
func (s *Store) PutNew(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               &bucket,
		Key:                  &key,
		Body:                 bytes.NewReader(body),
		ContentLength:        aws.Int64(int64(len(body))),
		ContentType:          aws.String(contentType),
		ServerSideEncryption: types.ServerSideEncryption(s.cfg.SSE),
		SSEKMSKeyId:          s.kmsKeyID(),
		IfNoneMatch:          aws.String("*"),
	})
	if HTTPStatus(err) == http.StatusPreconditionFailed {
		return ErrExists
	}
	return err
}

// kmsKeyID is the KMS key writes name: only with SSE-KMS and a key id.
func (s *Store) kmsKeyID() *string {
	if s.cfg.SSE == SSEKMS && s.cfg.KMSKeyID != "" {
		return aws.String(s.cfg.KMSKeyID)
	}
	return nil
}

// Get opens the body of key in bucket; the caller closes it.
func (s *Store) Get(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	c, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// Head is the current version of key in bucket, with its metadata; a
// missing object is an error IsNotFound reports.
func (s *Store) Head(ctx context.Context, bucket, key string) (Object, error) {
	return s.HeadVersion(ctx, bucket, key, "")
}

// HeadVersion is Head of one version; "" is the current one.
func (s *Store) HeadVersion(ctx context.Context, bucket, key, versionID string) (Object, error) {
	c, err := s.client(ctx)
	if err != nil {
		return Object{}, err
	}
	in := &s3.HeadObjectInput{Bucket: &bucket, Key: &key}
	if versionID != "" {
		in.VersionId = &versionID
	}
	out, err := c.HeadObject(ctx, in)
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag),
		VersionID: aws.ToString(out.VersionId), Metadata: out.Metadata,
		LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType)}, nil
}

// PresignGet is a URL that GETs key in bucket until ttl has passed, signed
// with the credentials of ctx's tenant (its role's, when it has one).
func (s *Store) PresignGet(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
	c, err := s.client(ctx)
	if err != nil {
		return "", err
	}
	req, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

// Walk calls each for every object under prefix in bucket, a page of
// the listing at a time, so a large prefix is never held in memory.
func (s *Store) Walk(ctx context.Context, bucket, prefix string, each func(Object)) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			each(Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)})
		}
	}
	return nil
}

// Versioned reports whether versioning was ever enabled on bucket (it may
// be suspended now: older versions can still exist).
func (s *Store) Versioned(ctx context.Context, bucket string) (bool, error) {
	c, err := s.client(ctx)
	if err != nil {
		return false, err
	}
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &bucket})
	if err != nil {
		return false, err
	}
	return v.Status != "", nil
}

// OlderVersions calls each for every noncurrent version under prefix in
// bucket (Key and VersionID set), a page at a time.
func (s *Store) OlderVersions(ctx context.Context, bucket, prefix string, each func(Object)) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	in := &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &prefix}
	for {
		page, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			return err
		}
		for _, ov := range page.Versions {
			if !aws.ToBool(ov.IsLatest) {
				each(Object{Key: aws.ToString(ov.Key), VersionID: aws.ToString(ov.VersionId), Size: aws.ToInt64(ov.Size),
					ETag: aws.ToString(ov.ETag)})
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
}

// HTTPStatus is the HTTP status of a failed call, or 0.
func HTTPStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// IsNotFound reports S3's answer for a missing object or upload.
func IsNotFound(err error) bool {
	if HTTPStatus(err) == http.StatusNotFound {
		return true
	}
	switch ErrorCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	}
	return false
}

// ErrorCode is the error code S3 answered a failed call with ("AccessDenied",
// "SlowDown"), or "". It is the store's text: check it before showing it.
func ErrorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
