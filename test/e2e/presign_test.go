package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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

// TestE2E_PresignShipsItsTrail: with audit.s3_bucket, every presign rotates
// its record into a closed segment and ships it before the URL is printed.
// While the audit bucket cannot take it, on_failure = "deny" withholds the
// URL (and says so in the trail), "continue" prints it with a warning; once
// the bucket works, the backlog ships, and the segments read back from the
// bucket verify as one chain.
func TestE2E_PresignShipsItsTrail(t *testing.T) {
	s3srv := s3test.Start(t)
	auditBucket := s3srv.Bucket + "-audit" // created only after the failures
	dir := t.TempDir()
	path := filepath.Join(dir, "s3sftpd.toml")
	writeConfig := func(onFailure string) {
		text := configText(dir, s3srv, gatewayOpts{checksums: "compat", drain: "5s", users: defaultUsers(t),
			audit: fmt.Sprintf("s3_bucket = %q\ns3_prefix = \"audit/\"\non_failure = %q", auditBucket, onFailure)})
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s3srv.Put(t, "partners/acme/reports/q3.bin", []byte("phi"))
	presign := func() (string, string, int) {
		return runToolCode(t, s3srv, "presign", "-config", path, "-user", "acme", "/reports/q3.bin")
	}
	trailDir := filepath.Join(dir, "data", "audit")

	writeConfig("deny")
	out, errOut, code := presign()
	if code != 1 || out != "" || !strings.Contains(errOut, "could not be shipped") {
		t.Fatalf("presign while the audit bucket is missing, deny: exit %d, stdout %q, stderr %q; want exit 1, no URL, the reason", code, out, errOut)
	}
	withheld := readTrail(t, filepath.Join(trailDir, "presign.jsonl"))
	if len(withheld) != 1 || withheld[0].Result != audit.ResultError || withheld[0].Reason != "not shipped" || withheld[0].Key != "partners/acme/reports/q3.bin" {
		t.Errorf("live presign trail after a withheld URL = %+v; want one record saying the URL for the key was withheld", withheld)
	}

	writeConfig("continue")
	out, errOut, code = presign()
	if code != 0 || !strings.HasPrefix(out, "http") || !strings.Contains(errOut, "only on this machine") {
		t.Fatalf("presign while the audit bucket is missing, continue: exit %d, stdout %q, stderr %q; want the URL and a warning", code, out, errOut)
	}

	writeConfig("deny")
	if _, err := s3srv.Client(t).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &auditBucket}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		out, errOut, code = presign()
		if code != 0 || !strings.HasPrefix(out, "http") || errOut != "" {
			t.Fatalf("presign %d with the audit bucket back: exit %d, stdout %q, stderr %q; want the URL, no warning", i+1, code, out, errOut)
		}
	}

	// The bucket holds every segment, byte for byte, and they verify as one chain.
	shipped := filepath.Join(t.TempDir(), "shipped")
	os.Mkdir(shipped, 0o700)
	want := []string{"presign-000000000001.jsonl", "presign-000000000003.jsonl", "presign-000000000006.jsonl", "presign-000000000008.jsonl"}
	list, err := s3srv.Client(t).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &auditBucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys, files []string
	for _, o := range list.Contents {
		keys = append(keys, *o.Key)
	}
	for _, name := range want {
		if !slices.Contains(keys, "audit/"+name) {
			t.Fatalf("audit bucket holds %v; want audit/ + each of %v", keys, want)
		}
		obj, err := s3srv.Client(t).GetObject(context.Background(), &s3.GetObjectInput{Bucket: &auditBucket, Key: aws.String("audit/" + name)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if local, _ := os.ReadFile(filepath.Join(trailDir, name)); !bytes.Equal(got, local) {
			t.Errorf("shipped %s differs from the local segment", name)
		}
		files = append(files, filepath.Join(shipped, name))
		if err := os.WriteFile(files[len(files)-1], got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if len(keys) != len(want) {
		t.Errorf("audit bucket holds %v; want exactly %v under audit/", keys, want)
	}
	out, errOut, code = runToolCode(t, s3srv, append([]string{"audit", "verify"}, files...)...)
	if code != 0 || !strings.HasPrefix(out, "OK: 9 records, seq 1..9, 4 files") {
		t.Errorf("audit verify of the shipped segments: exit %d, %q (stderr %q); want OK: 9 records, seq 1..9, 4 files", code, out, errOut)
	}
	var recs []audit.Record
	for _, f := range files {
		recs = append(recs, readTrail(t, f)...)
	}
	ok := find(recs, func(r audit.Record) bool { return r.Event == audit.EventPresign && r.Result == audit.ResultOK })
	notShipped := find(recs, func(r audit.Record) bool { return r.Event == audit.EventPresign && r.Reason == "not shipped" })
	if len(ok) != 4 || len(notShipped) != 1 {
		t.Errorf("shipped trail has %d hand-outs and %d withheld notes; want 4 and 1", len(ok), len(notShipped))
	}
}

// TestE2E_PresignEncryptedNames: with names = "encrypted", presign finds a
// file uploaded over SFTP by the name the partner gave it, the URL serves
// its exact bytes, and the request and the record use the stored
// (encrypted) name only. An object planted under a plaintext name is not
// found by that name, as over SFTP.
func TestE2E_PresignEncryptedNames(t *testing.T) {
	s3srv := s3test.Start(t)
	kek := filepath.Join(t.TempDir(), "names.kek")
	writeKEK(t, kek)
	g := startGateway(t, s3srv, gatewayOpts{enc: fmt.Sprintf("names = \"encrypted\"\nkek_file = %q\n", kek)})
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "SMITH_JOHN.bin"), 100_017)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "mkdir reports\nput SMITH_JOHN.bin reports/SMITH_JOHN.bin\n")
	s3srv.Put(t, "partners/acme/reports/planted.bin", []byte("planted under a plaintext name"))

	out, errOut, code := runToolCode(t, s3srv, "presign", "-config", g.config, "-user", "acme", "/reports/SMITH_JOHN.bin")
	if code != 0 {
		t.Fatalf("presign of a file with an encrypted name: exit %d\n%s", code, errOut)
	}
	signed := strings.TrimSpace(out)
	if strings.Contains(signed, "SMITH") || strings.Contains(signed, "reports") {
		t.Errorf("the URL names the file in plaintext: %s", signed)
	}
	if got, status := httpGet(t, signed); status != 200 || !bytes.Equal(got, data) {
		t.Errorf("GET presigned URL: status %d, %d bytes, equal %v; want 200 and the exact %d bytes", status, len(got), bytes.Equal(got, data), len(data))
	}
	out, errOut, code = runToolCode(t, s3srv, "presign", "-config", g.config, "-user", "acme", "/reports/planted.bin")
	if code != 1 || out != "" || !strings.Contains(errOut, "no such file") {
		t.Errorf("presign of a plaintext-named object: exit %d, stdout %q, stderr %q; want exit 1, no URL, no such file", code, out, errOut)
	}

	recs := readTrail(t, filepath.Join(filepath.Dir(g.config), "data", "audit", "presign.jsonl"))
	ok := find(recs, func(r audit.Record) bool { return r.Event == audit.EventPresign && r.Result == audit.ResultOK })
	stored := s3srv.Keys(t, "partners/acme/")
	if len(ok) != 1 || !slices.Contains(stored, ok[0].Key) || strings.Contains(ok[0].Key, "SMITH") {
		t.Errorf("presign records %+v; want one hand-out naming a stored key (of %v), not the plaintext name", ok, stored)
	}
}

// TestE2E_PresignRefusedUnderEnvelope: a presigned URL serves stored bytes
// as they are, so under envelope encryption it would hand out ciphertext:
// presign refuses, says why, and the trail records the fixed refusal.
func TestE2E_PresignRefusedUnderEnvelope(t *testing.T) {
	s3srv := s3test.Start(t)
	kek := filepath.Join(t.TempDir(), "env.kek")
	writeKEK(t, kek)
	g := startGateway(t, s3srv, gatewayOpts{enc: fmt.Sprintf("mode = \"envelope\"\nkek_file = %q\n", kek)})
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "labs.csv"), 1000)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put labs.csv\n")
	s3srv.Put(t, "partners/acme/planted.csv", []byte("plaintext planted in the home"))

	for _, p := range []string{"/labs.csv", "/planted.csv"} {
		out, errOut, code := runToolCode(t, s3srv, "presign", "-config", g.config, "-user", "acme", p)
		if code != 1 || out != "" || !strings.Contains(errOut, "would hand out ciphertext") {
			t.Errorf("presign %s under envelope encryption: exit %d, stdout %q, stderr %q; want exit 1, no URL, the reason", p, code, out, errOut)
		}
	}
	recs := readTrail(t, filepath.Join(filepath.Dir(g.config), "data", "audit", "presign.jsonl"))
	denied := find(recs, func(r audit.Record) bool {
		return r.Event == audit.EventPresign && r.Result == audit.ResultDenied && strings.Contains(r.Error, `mode is "envelope"`)
	})
	if len(denied) != 2 || len(recs) != 2 {
		t.Errorf("presign trail = %+v; want exactly the two refusals, saying envelope mode is why", recs)
	}
}

// TestE2E_PresignTrailHidesNamesOnError: with audit paths = "hmac", a
// presign that fails at S3 (the store is down) records fixed words: the
// trail names neither the file nor its key.
func TestE2E_PresignTrailHidesNamesOnError(t *testing.T) {
	s3srv := s3test.Start(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	hmacKey := make([]byte, 32)
	rand.Read(hmacKey)
	if err := os.WriteFile(keyFile, hmacKey, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s3sftpd.toml")
	text := configText(dir, s3srv, gatewayOpts{checksums: "compat", drain: "5s", users: defaultUsers(t), s3: "max_attempts = 1",
		audit: fmt.Sprintf("hmac_key_file = %q\npaths = \"hmac\"", keyFile)})
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	const name = "SMITH_JOHN_MRN4417.csv"
	s3srv.Put(t, "partners/acme/"+name, []byte("phi"))
	s3srv.Stop()

	out, errOut, code := runToolCode(t, s3srv, "presign", "-config", path, "-user", "acme", "/"+name)
	if code != 1 || out != "" {
		t.Fatalf("presign with the store down: exit %d, stdout %q, stderr %q; want exit 1, no URL", code, out, errOut)
	}
	trail := filepath.Join(dir, "data", "audit", "presign.jsonl")
	recs := readTrail(t, trail)
	if len(recs) != 1 || recs[0].Result != audit.ResultError || !strings.HasPrefix(recs[0].Error, "presign failed: the storage request failed") {
		t.Errorf("presign trail = %+v; want one error record with the fixed text", recs)
	}
	raw, err := os.ReadFile(trail)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("SMITH")) || bytes.Contains(raw, []byte("partners/acme")) {
		t.Errorf("the presign trail names the file or its key with paths = \"hmac\":\n%s", raw)
	}
}
