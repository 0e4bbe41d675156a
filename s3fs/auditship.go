package s3fs

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// AuditShipper stores closed segments of the audit trail in a bucket that no
// partner can reach (config refuses a prefix inside a home), encrypted like
// every other object. It implements audit.Shipper.
type AuditShipper struct {
	fs     *FS
	bucket string
	prefix string
}

// AuditShipper returns a shipper writing to bucket under prefix.
func (fs *FS) AuditShipper(bucket, prefix string) *AuditShipper {
	return &AuditShipper{fs: fs, bucket: bucket, prefix: prefix}
}

// Ship stores segment as prefix+name. A segment is never overwritten: if the
// name exists already (a retry after a lost answer), Ship succeeds only when
// the stored bytes are the same.
func (a *AuditShipper) Ship(ctx context.Context, name string, segment []byte) error {
	key := a.prefix + name
	_, err := a.fs.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               &a.bucket,
		Key:                  &key,
		Body:                 bytes.NewReader(segment),
		ContentLength:        aws.Int64(int64(len(segment))),
		ContentType:          aws.String("application/x-ndjson"),
		ServerSideEncryption: a.fs.enc.mode(),
		SSEKMSKeyId:          a.fs.enc.keyID(),
		IfNoneMatch:          aws.String("*"),
	})
	if err == nil {
		return nil
	}
	if !isPrecondition(err) {
		return fmt.Errorf("store audit segment s3://%s/%s: %w", a.bucket, key, err)
	}
	stored, gerr := a.fs.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.bucket, Key: &key})
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
