package main

import (
	"context"
	"io"
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
