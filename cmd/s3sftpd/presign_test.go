package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_Presign: the URL downloads the exact bytes from the real store,
// only for readable files inside the user's home, expires, and every
// hand-out and refusal is in a trail that verifies.
func TestE2E_Presign(t *testing.T) {
	s3srv := s3test.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "s3sftpd.toml")
	text := configText(dir, s3srv, gatewayOpts{checksums: "compat", drain: "5s", users: defaultUsers(t)})
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	s3srv.Put(t, "partners/acme/reports/q3.bin", data)
	s3srv.Put(t, "partners/acme2/secret.bin", []byte("neighbour"))

	out, errOut, code := runToolCode(t, s3srv, "presign", "-config", path, "-user", "acme", "-ttl", "1h", "/reports/q3.bin")
	if code != 0 {
		t.Fatalf("presign exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "capped to s3.max_presign_ttl 5m0s") {
		t.Errorf("a ttl above the maximum was not reported as capped: %q", errOut)
	}
	u, err := url.Parse(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("X-Amz-Expires"); got != "300" {
		t.Errorf("X-Amz-Expires = %q; want 300", got)
	}
	if got, status := httpGet(t, u.String()); status != 200 || !bytes.Equal(got, data) {
		t.Errorf("GET presigned URL: status %d, %d bytes, equal %v; want 200 and the exact %d bytes", status, len(got), bytes.Equal(got, data), len(data))
	}

	for _, tc := range []struct{ name, user, path, want string }{
		{"outside-the-home", "acme", "/../acme2/secret.bin", "leaves the user's home"},
		{"no-read-permission", "drop", "/anything.bin", "downloading is not permitted"},
		{"missing-file", "acme", "/reports/none.bin", "no such file"},
		{"home-directory", "acme", "/", "is a directory"},
		{"unknown-user", "mallory", "/reports/q3.bin", `no user "mallory"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runToolCode(t, s3srv, "presign", "-config", path, "-user", tc.user, tc.path)
			if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("presign -user %s %s: exit %d, stdout %q, stderr %q; want exit 1, no URL, %q", tc.user, tc.path, code, out, errOut, tc.want)
			}
		})
	}

	// A URL stops working when its ttl has passed.
	out, _, code = runToolCode(t, s3srv, "presign", "-config", path, "-user", "acme", "-ttl", "1s", "reports/q3.bin")
	if code != 0 {
		t.Fatalf("presign -ttl 1s: exit %d", code)
	}
	time.Sleep(2 * time.Second)
	if _, status := httpGet(t, strings.TrimSpace(out)); status != http.StatusForbidden {
		t.Errorf("GET an expired URL: status %d; want 403", status)
	}

	trail := filepath.Join(dir, "data", "audit", "presign.jsonl")
	recs := readTrail(t, trail)
	ok := find(recs, func(r audit.Record) bool { return r.Event == audit.EventPresign && r.Result == audit.ResultOK })
	denied := find(recs, func(r audit.Record) bool { return r.Event == audit.EventPresign && r.Result == audit.ResultDenied })
	if len(ok) != 2 || len(denied) != 4 {
		t.Errorf("trail has %d ok and %d denied presign records; want 2 and 4 (unknown users are not recorded)", len(ok), len(denied))
	}
	if len(ok) > 0 && (ok[0].User != "acme" || ok[0].Key != "partners/acme/reports/q3.bin" || ok[0].Expires == nil) {
		t.Errorf("presign record = %+v; want user acme, key partners/acme/reports/q3.bin and an expiry", ok[0])
	}
	if _, errOut, code := runToolCode(t, s3srv, "audit", "verify", trail); code != 0 {
		t.Errorf("audit verify %s: exit %d\n%s", trail, code, errOut)
	}
}

func httpGet(t *testing.T, u string) ([]byte, int) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, resp.StatusCode
}
