package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_AuditShipsToS3: with audit.s3_bucket, stopping the server rotates
// the trail and ships it; the bucket holds the segment byte for byte, and
// `audit verify` accepts the local trail with its checkpoint.
func TestE2E_AuditShipsToS3(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{audit: fmt.Sprintf("s3_bucket = %q\ns3_prefix = \"audit/gw1/\"", s3srv.Bucket)})
	g.stop(t)

	dir := filepath.Join(filepath.Dir(g.config), "data", "audit")
	if _, err := os.Stat(filepath.Join(dir, "audit.jsonl")); !os.IsNotExist(err) {
		t.Errorf("live audit file after stop: %v; want it rotated into a segment", err)
	}
	seg := filepath.Join(dir, "audit-000000000001.jsonl")
	local, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s3srv.Get(t, "audit/gw1/audit-000000000001.jsonl"); !ok || !bytes.Equal(got, local) {
		t.Errorf("shipped segment exists %v, identical %v; want it byte-identical:\n%s", ok, bytes.Equal(got, local), got)
	}
	stdout, stderr, code := runToolCode(t, s3srv, "audit", "verify", "-checkpoint", filepath.Join(dir, "audit.jsonl.checkpoint"), seg)
	if want := "OK: 3 records, seq 1..3, 1 file, MAC not checked (no -hmac-key-file), checkpoint seq 3 found\n"; code != 0 || stdout != want {
		t.Errorf("audit verify: exit %d, %q (stderr %q); want 0, %q", code, stdout, stderr, want)
	}
}
