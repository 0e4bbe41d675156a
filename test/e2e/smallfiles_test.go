package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_SmallFilesBatch: OpenSSH's put of many small files in one batch
// (it opens each without a stat, and the gateway asks S3 about their names
// once for the batch) stores every file whole, on versitygw and on the
// embedded store; and what the user may not do is still refused file by
// file with today's message (OpenSSH prints only its own words for the
// status: the trail has the partner's), the batch failing, the other files
// stored: replacing a file without overwrite, and a file where a directory
// has the name. The stored file stays as it was.
func TestE2E_SmallFilesBatch(t *testing.T) {
	for _, store := range []string{"versitygw", "embedded"} {
		t.Run(store, func(t *testing.T) {
			o := gatewayOpts{users: []testUser{
				{name: "acme", home: "partners/acme/", keys: []string{pubKey(t, "ed25519")}},
				{name: "keeper", home: "partners/keeper/", perms: `["list", "read", "write", "mkdir"]`, keys: []string{pubKey(t, "ed25519")}},
			}}
			var s3srv *s3test.Server
			if store == "embedded" {
				o.endpoint = "embedded"
			} else {
				s3srv = s3test.Start(t)
			}
			g := startGateway(t, s3srv, o)
			key := clientKeys["ed25519"]
			dir := t.TempDir()
			for _, d := range []string{"batch", "back"} {
				if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			sent := map[string][]byte{}
			for i := range 40 {
				name := fmt.Sprintf("f%03d.csv", i)
				sent[name] = writeRandom(t, filepath.Join(dir, "batch", name), 4096)
			}
			g.mustSFTP(t, dir, "acme", key, "mkdir in\nput batch/* in/\n")
			g.mustSFTP(t, dir, "acme", key, "get in/* back/\n")
			for name, data := range sent {
				if got, err := os.ReadFile(filepath.Join(dir, "back", name)); err != nil || !bytes.Equal(got, data) {
					t.Errorf("%s came back as %d bytes (%v); want the 4096 sent", name, len(got), err)
				}
			}

			// keeper may not overwrite: f005 is there before the batch, and
			// f020 is a directory.
			original := []byte("stored before\n")
			if err := os.WriteFile(filepath.Join(dir, "original"), original, 0o600); err != nil {
				t.Fatal(err)
			}
			g.mustSFTP(t, dir, "keeper", key, "mkdir in\nmkdir in/f020.csv\nput original in/f005.csv\n")
			if out, err := g.sftp(t, dir, "keeper", key, "put batch/* in/\n"); err == nil {
				t.Fatalf("a batch with refused files exited 0:\n%s", out)
			}
			var refusals []string
			for _, r := range readTrail(t, g.auditFile()) {
				if r.User == "keeper" && r.Error != "" {
					refusals = append(refusals, r.Path+": "+r.Error)
				}
			}
			for _, want := range []string{"/in/f005.csv: upload refused: file exists and overwrite is not permitted for this user",
				"/in/f020.csv: upload refused: a directory has that name"} {
				if !slices.Contains(refusals, want) {
					t.Errorf("the trail's refusals %q do not include %q", refusals, want)
				}
			}
			g.mustSFTP(t, dir, "keeper", key, "get in/f005.csv back/f005.csv\nget in/f039.csv back/f039.csv\n")
			if got, _ := os.ReadFile(filepath.Join(dir, "back", "f005.csv")); !bytes.Equal(got, original) {
				t.Errorf("f005.csv holds %q after a refused upload; want it unchanged", got)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "back", "f039.csv")); !bytes.Equal(got, sent["f039.csv"]) {
				t.Error("the batch's files after the refused ones were not stored whole")
			}
		})
	}
}
