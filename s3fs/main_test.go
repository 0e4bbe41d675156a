package s3fs

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// TestMain runs the package's tests against versitygw, or, with
// S3SFTPD_TEST_STORE=embedded, against the embedded store that
// `endpoint = "embedded"` starts, so both stores pass the same suite.
func TestMain(m *testing.M) {
	if os.Getenv("S3SFTPD_TEST_STORE") == "embedded" {
		dir, err := os.MkdirTemp("", "s3sftpd-embedded-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		store, err := StartEmbedded(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Setenv("S3SFTPD_TEST_EMBEDDED", store.Endpoint)
		code := m.Run()
		store.Close(context.Background())
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}
