package tryout

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// client is a real SDK client pointed at a started store, as cmd configures it.
func client(t *testing.T, bucket string) *s3.Client {
	t.Helper()
	store, err := Start(t.TempDir(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if !strings.HasPrefix(store.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("got endpoint %q; want loopback", store.Endpoint)
	}
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(store.Endpoint),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("embedded", "embedded", ""),
	})
}

// TestStore_PutReplacesMetadata: a replaced file must not keep its
// predecessor's SHA-256 (or any other key the new put does not set).
func TestStore_PutReplacesMetadata(t *testing.T) {
	ctx := context.Background()
	c := client(t, "b")
	put := func(meta map[string]string, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("f"), Metadata: meta, Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put(map[string]string{"s3sftpd-sha256": "old"}, "old")
	put(map[string]string{"s3sftpd-mtime": "1"}, "new")
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("f")})
	if err != nil {
		t.Fatal(err)
	}
	if got := head.Metadata["s3sftpd-sha256"]; got != "" {
		t.Errorf("got s3sftpd-sha256 = %q after a put without it; want it gone", got)
	}
	if got := head.Metadata["s3sftpd-mtime"]; got != "1" {
		t.Errorf("got s3sftpd-mtime = %q; want %q", got, "1")
	}
}

// TestStore_TaggingNotImplemented: a tag request is refused as a store
// without tags refuses it, and leaves the object's bytes alone.
func TestStore_TaggingNotImplemented(t *testing.T) {
	ctx := context.Background()
	c := client(t, "b")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("f"), Body: strings.NewReader("data")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("b"), Key: aws.String("f"), Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NotImplemented" {
		t.Fatalf("got PutObjectTagging error %v; want NotImplemented", err)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("f")})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, got.Body); err != nil {
		t.Fatal(err)
	}
	if b.String() != "data" {
		t.Errorf("got object %q after a tag request; want %q", b.String(), "data")
	}
}
