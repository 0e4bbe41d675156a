package ops

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/s3sftpd/s3sftpd/internal/tryout"
)

// TestMain runs the package's tests against versitygw, or, with
// S3SFTPD_TEST_STORE=embedded, against the embedded try-out store that
// `endpoint = "embedded"` starts (internal/tryout), so both stores pass
// the same suite.
func TestMain(m *testing.M) {
	if os.Getenv("S3SFTPD_TEST_STORE") == "embedded" {
		dir, err := os.MkdirTemp("", "s3sftpd-embedded-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		store, err := tryout.Start(dir)
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
