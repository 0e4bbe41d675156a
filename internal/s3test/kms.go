package s3test

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// StartKMS runs local-kms (an AWS KMS emulator speaking the real KMS API)
// on 127.0.0.1 through s3sftpd-kmsd, the loopback-only command in kmsd/
// that scripts/test builds, with an empty database in a temp dir, and
// returns its endpoint. Its region is Region.
func StartKMS(t testing.TB) string {
	t.Helper()
	bin := findBinary(t, "s3sftpd-kmsd", "scripts/test builds it (go build -C internal/s3test/kmsd -o $(go env GOPATH)/bin/s3sftpd-kmsd .)")
	port := freePort(t)
	cmd := exec.Command(bin, "-listen", "127.0.0.1:"+port, "-region", region(), "-data", filepath.Join(t.TempDir(), "kms"))
	startLogged(t, "kmsd", cmd)
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
