package main

import (
	"slices"
	"testing"

	"github.com/s3sftpd/s3sftpd/config"
)

// TestAuditBucketOnTheEmbeddedStore: the embedded store creates the audit
// bucket too, once, so the S3 sink works in the one-command setup.
func TestAuditBucketOnTheEmbeddedStore(t *testing.T) {
	for _, tt := range []struct {
		name  string
		audit string
		want  []string
	}{
		{"no-sink", "", []string{"data", "other"}},
		{"own-bucket", "trail", []string{"data", "other", "trail"}},
		{"shared-bucket", "data", []string{"data", "other"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{S3: config.S3{Bucket: "data"}, Audit: config.Audit{S3Bucket: tt.audit},
				Users: []config.User{{Name: "a", Tree: []config.Mount{{Path: "/", Bucket: "data", Prefix: "a/"}}},
					{Name: "b", Bucket: "other", Tree: []config.Mount{{Path: "/", Bucket: "other", Prefix: "b/"}}}}} // as Load resolves them
			if got := buckets(cfg); !slices.Equal(got, tt.want) {
				t.Errorf("buckets = %v; want %v", got, tt.want)
			}
		})
	}
}

// TestHashedPathsHideNamesInS3Log: paths = "hmac" also tells s3fs to keep
// request URLs, which hold object keys, out of the log lines of no session.
func TestHashedPathsHideNamesInS3Log(t *testing.T) {
	for paths, want := range map[string]bool{config.AuditPathsPlain: false, config.AuditPathsHMAC: true} {
		cfg := &config.Config{Audit: config.Audit{Paths: paths}}
		if got := s3Config(cfg).HideNames; got != want {
			t.Errorf("paths = %q: got HideNames %v; want %v", paths, got, want)
		}
	}
}
