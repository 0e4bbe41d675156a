package ops

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3sftpd/s3sftpd/s3fs"
)

// AuditShipper stores closed segments of the audit trail in a bucket that no
// partner can reach (config refuses a prefix inside a home), encrypted like
// every other object. It implements audit.Shipper.
type AuditShipper struct {
	s3       *s3.Client
	bucket   string
	prefix   string
	sse      types.ServerSideEncryption
	kmsKeyID *string
}

// NewAuditShipper returns a shipper writing to bucket under prefix with
// client (made by s3fs.Dial), with the server-side encryption of cfg.
func NewAuditShipper(client *s3.Client, cfg s3fs.Config, bucket, prefix string) *AuditShipper {
	sse, kmsKeyID := cfg.WriteEncryption()
	return &AuditShipper{s3: client, bucket: bucket, prefix: prefix, sse: sse, kmsKeyID: kmsKeyID}
}

// Ship stores segment as prefix+name. A segment is never overwritten: if the
// name exists already (a retry after a lost answer), Ship succeeds only when
// the stored bytes are the same.
func (a *AuditShipper) Ship(ctx context.Context, name string, segment []byte) error {
	key := a.prefix + name
	_, err := a.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               &a.bucket,
		Key:                  &key,
		Body:                 bytes.NewReader(segment),
		ContentLength:        aws.Int64(int64(len(segment))),
		ContentType:          aws.String("application/x-ndjson"),
		ServerSideEncryption: a.sse,
		SSEKMSKeyId:          a.kmsKeyID,
		IfNoneMatch:          aws.String("*"),
	})
	if err == nil {
		return nil
	}
	if s3fs.HTTPStatus(err) != http.StatusPreconditionFailed {
		return fmt.Errorf("store audit segment s3://%s/%s: %w", a.bucket, key, err)
	}
	stored, gerr := a.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.bucket, Key: &key})
	if gerr != nil {
		return fmt.Errorf("store audit segment s3://%s/%s: exists, and reading it back failed: %w", a.bucket, key, gerr)
	}
	defer stored.Body.Close()
	got, gerr := io.ReadAll(io.LimitReader(stored.Body, int64(len(segment))+1))
	if gerr != nil {
		return fmt.Errorf("store audit segment s3://%s/%s: exists, and reading it back failed: %w", a.bucket, key, gerr)
	}
	if !bytes.Equal(got, segment) {
		return fmt.Errorf("store audit segment s3://%s/%s: a different object already has this name", a.bucket, key)
	}
	return nil
}
