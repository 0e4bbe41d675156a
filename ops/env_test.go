package ops

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/s3fs"
)

// env is one real S3 server, the client s3fs.Dial makes for it, and an FS on it.
type env struct {
	s3  *s3test.Server
	api *s3.Client
	cfg s3fs.Config
	fs  *s3fs.FS
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := s3test.Start(t)
	cfg := s3fs.Config{
		Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
		SSE: s3fs.SSEAES256, Checksums: s3fs.ChecksumsCompat,
		PartSize: 5 << 20, UploadMemory: 64 << 20,
	}
	client, err := s3fs.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := s3fs.New(client, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	return &env{s3: srv, api: client, cfg: cfg, fs: fsys}
}

// testLog discards, unless S3SFTPD_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("S3SFTPD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// createUpload starts a multipart upload with the real client, as a gateway
// that then died would have.
func createUpload(t *testing.T, e *env, key string) {
	t.Helper()
	if _, err := e.api.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.s3.Bucket, Key: aws.String(key)}); err != nil {
		t.Fatalf("create multipart upload %s: %v", key, err)
	}
}

// uploadsInProgress returns the keys of the bucket's uploads in progress.
func uploadsInProgress(t *testing.T, e *env) []string {
	t.Helper()
	return e.s3.MultipartUploads(t)
}
