package tryout

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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

// slowBody is a body whose second half comes after a pause.
type slowBody struct {
	half  []byte
	pause time.Duration
	sent  int
}

func (b *slowBody) Read(p []byte) (int, error) {
	switch b.sent {
	case 0, 1:
		if b.sent == 1 {
			time.Sleep(b.pause)
		}
		b.sent++
		return copy(p, b.half), nil
	}
	return 0, io.EOF
}

// TestStore_OneTimePerPut: a HEAD and a listing show the same
// LastModified for a put whose body took longer than a second (keptime
// matches a listed object to the version a time was kept for by it).
func TestStore_OneTimePerPut(t *testing.T) {
	ctx := context.Background()
	store, err := Start(t.TempDir(), "b")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(ctx)
	req, err := http.NewRequest(http.MethodPut, store.Endpoint+"/b/slow", &slowBody{half: make([]byte, 1<<10), pause: 1100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 2 << 10
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s", resp.Status)
	}
	c := s3.New(s3.Options{BaseEndpoint: aws.String(store.Endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("embedded", "embedded", "")})
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("slow")})
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b")})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("list: %v, %d objects", err, len(list.Contents))
	}
	if h, l := aws.ToTime(head.LastModified).Unix(), aws.ToTime(list.Contents[0].LastModified).Unix(); h != l {
		t.Errorf("HEAD shows LastModified %d, the listing %d; want one time", h, l)
	}
}
