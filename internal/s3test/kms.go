package s3test

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// KMSVersion is the local-kms that scripts/test installs.
const KMSVersion = "v0.0.0-20260228092603-2a5e92d09ab6"

// StartKMS runs local-kms (an AWS KMS emulator speaking the real KMS API)
// with an empty database in a temp dir, and returns its endpoint. Its
// region is Region. local-kms cannot be told to bind to loopback only: it
// listens on every interface, on a random free port, for the test's duration.
func StartKMS(t testing.TB) string {
	t.Helper()
	bin := findBinary(t, "local-kms", "scripts/test installs it (go install github.com/nsmithuk/local-kms@"+KMSVersion+")")
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PORT=" + port, "KMS_REGION=" + region(), "KMS_DATA_PATH=" + filepath.Join(t.TempDir(), "kms"), "KMS_SEED_PATH="}
	startLogged(t, "local-kms", cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return "http://127.0.0.1:" + port
		}
		if time.Now().After(deadline) {
			t.Fatalf("local-kms did not start on port %s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
