package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/config"
)

// TestPresign_RefusesAnAuditFileNamedLikeItsTrail: the server's trail and
// the presign trail must not share a file or segment names, here or in the
// audit bucket.
func TestPresign_RefusesAnAuditFileNamedLikeItsTrail(t *testing.T) {
	for _, name := range []string{"presign.jsonl", "presign-000000000001.jsonl"} {
		cfg := &config.Config{}
		cfg.S3.Endpoint = "http://127.0.0.1:1"
		cfg.Audit.File = filepath.Join(t.TempDir(), name)
		_, err := presign(context.Background(), cfg, "acme", "/a.bin", time.Minute, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "named like the presign trail") {
			t.Errorf("presign with audit.file %s: %v; want a refusal naming the clash", name, err)
		}
	}
}

// TestPresign_RefusesAnOverlongRolePolicyBeforeRecording: a user with a
// role whose session policy STS would refuse (a very deep home) is refused
// with that reason before anything is signed or recorded; nothing reaches
// the store (its endpoint here listens nowhere).
func TestPresign_RefusesAnOverlongRolePolicyBeforeRecording(t *testing.T) {
	cfg := &config.Config{}
	cfg.S3.Endpoint, cfg.S3.Region, cfg.S3.Bucket = "http://127.0.0.1:1", "us-east-1", "b"
	cfg.S3.SSE, cfg.S3.Checksums = "AES256", "compat"
	cfg.Audit.File = filepath.Join(t.TempDir(), "audit.jsonl")
	cfg.Users = []config.User{{Name: "acme", Home: strings.Repeat("deep/", 200),
		RoleARN: "arn:aws:iam::123456789012:role/sftp-acme"}}
	_, err := presign(context.Background(), cfg, "acme", "/a.bin", time.Minute, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "above STS's 2048") {
		t.Fatalf("presign for an overlong role policy = %v; want it refused for the policy's length", err)
	}
	trail, _ := os.ReadFile(presignTrailFile(cfg))
	if bytes.Contains(trail, []byte(`"presign"`)) {
		t.Errorf("the presign trail recorded an attempt that was refused before it began:\n%s", trail)
	}
}
