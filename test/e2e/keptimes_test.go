package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// lsLine is the line of OpenSSH's `ls -l` output that names file.
func lsLine(out, file string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " "+file) {
			return line
		}
	}
	return ""
}

// TestE2E_KeptTimesOnEveryGateway: a time kept with OpenSSH's `put -p`
// through one gateway process shows in `ls -l` on a second gateway process
// on the same bucket and after the first one restarts; a file written
// straight to S3 shows its LastModified, and so does the kept file once
// overwritten straight in S3.
func TestE2E_KeptTimesOnEveryGateway(t *testing.T) {
	s3srv := s3test.Start(t)
	g1 := startGateway(t, s3srv, gatewayOpts{})
	g2 := startGateway(t, s3srv, gatewayOpts{})
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	writeRandom(t, filepath.Join(dir, "kept.bin"), 1000)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "kept.bin"), old, old); err != nil {
		t.Fatal(err)
	}
	g1.mustSFTP(t, dir, "acme", key, "put -p kept.bin\n")
	s3srv.Put(t, "partners/acme/straight.bin", []byte("from the hospital's system"))
	thisMonth := time.Now().Format(" Jan ")

	for name, g := range map[string]*gateway{"the other gateway": g2, "the same gateway": g1} {
		out := g.mustSFTP(t, dir, "acme", key, "ls -l\n")
		if line := lsLine(out, "kept.bin"); !strings.Contains(line, "2001") {
			t.Errorf("on %s, ls -l shows %q; want kept.bin at its kept time in 2001", name, line)
		}
		if line := lsLine(out, "straight.bin"); !strings.Contains(line, thisMonth) {
			t.Errorf("on %s, ls -l shows %q; want straight.bin at its LastModified (%s)", name, line, thisMonth)
		}
	}
	g1.stop(t)
	g3 := startGateway(t, s3srv, gatewayOpts{}) // the first gateway restarted: nothing in memory
	if line := lsLine(g3.mustSFTP(t, dir, "acme", key, "ls -l\n"), "kept.bin"); !strings.Contains(line, "2001") {
		t.Errorf("after a restart, ls -l shows %q; want kept.bin at its kept time in 2001", line)
	}

	time.Sleep(time.Second) // LastModified has seconds: the overwrite is later than the kept version
	s3srv.Put(t, "partners/acme/kept.bin", []byte("overwritten straight in S3"))
	for name, g := range map[string]*gateway{"the other gateway": g2, "the restarted gateway": g3} {
		if line := lsLine(g.mustSFTP(t, dir, "acme", key, "ls -l\n"), "kept.bin"); strings.Contains(line, "2001") || !strings.Contains(line, thisMonth) {
			t.Errorf("on %s, ls -l shows %q for kept.bin overwritten in S3; want its new LastModified, not the kept time", name, line)
		}
	}
}
