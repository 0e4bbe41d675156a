package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// readTrail parses every record of an audit file.
func readTrail(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open audit trail: %v", err)
	}
	defer f.Close()
	var recs []audit.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// find returns the records for which match holds.
func find(recs []audit.Record, match func(audit.Record) bool) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// toolOutput runs a command and returns the first field of its output.
func toolOutput(t *testing.T, field int, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return strings.Fields(string(out))[field]
}

// TestE2E_AuditTrail drives real OpenSSH sessions and checks the records
// they leave, field by field: who, from where, with which key, what was
// written and read (with the content hash sha256sum computes), what was
// refused, and a killed upload.
func TestE2E_AuditTrail(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	writeRandom(t, filepath.Join(dir, "labs.csv"), 6<<20+3)
	g.mustSFTP(t, dir, "acme", key, "put labs.csv\n")
	head, err := s3srv.Client(t).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &s3srv.Bucket, Key: aws.String("partners/acme/labs.csv")})
	if err != nil {
		t.Fatal(err)
	}
	g.mustSFTP(t, dir, "acme", key, "get labs.csv back.csv\nmkdir done\nrename labs.csv done/labs.csv\nls done\n")
	if out, _ := g.sftp(t, dir, "drop", key, "ls\n"); !strings.Contains(out, "Permission denied") {
		t.Fatalf("drop box listing was not refused:\n%s", out)
	}
	killedUpload(t, g, dir, key)
	g.stop(t)

	recs := readTrail(t, g.auditFile())
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.Time.IsZero() {
			t.Fatalf("record %d: seq %d time %v; want seq %d and a time", i+1, r.Seq, r.Time, i+1)
		}
	}
	if recs[0].Event != audit.EventServerStart || recs[len(recs)-1].Event != audit.EventServerStop {
		t.Errorf("trail runs from %s to %s; want server_start to server_stop", recs[0].Event, recs[len(recs)-1].Event)
	}

	// Who: the first session is acme's, with the key and client it used.
	auths := find(recs, func(r audit.Record) bool { return r.Event == audit.EventAuth && r.Result == audit.ResultOK })
	if len(auths) != 4 {
		t.Fatalf("%d successful logins recorded; want 4", len(auths))
	}
	login := auths[0]
	upload := func(r audit.Record) bool { return r.Session == login.Session }
	session := func(r audit.Record) bool { return r.Session == login.Session || r.Session == auths[1].Session }
	connect := find(recs, func(r audit.Record) bool { return upload(r) && r.Event == audit.EventConnect })
	if len(connect) != 1 || !strings.HasPrefix(connect[0].Remote, "127.0.0.1:") || !strings.HasPrefix(connect[0].Client, "SSH-2.0-OpenSSH") {
		t.Errorf("connect records %+v; want one from 127.0.0.1 with OpenSSH's version string", connect)
	}
	wantFP := toolOutput(t, 1, "ssh-keygen", "-lf", key+".pub")
	if login.User != "acme" || login.Method != "publickey" || login.KeyType != "ssh-ed25519" || login.KeyFP != wantFP {
		t.Errorf("auth record user %q method %q key %q %q; want acme publickey ssh-ed25519 %s",
			login.User, login.Method, login.KeyType, login.KeyFP, wantFP)
	}

	// What: the upload's hash is the file's, its ETag the object's.
	wantSum := toolOutput(t, 0, "sha256sum", filepath.Join(dir, "labs.csv"))
	closes := find(recs, func(r audit.Record) bool { return session(r) && r.Event == audit.EventClose })
	if len(closes) != 2 {
		t.Fatalf("acme's session has %d close records; want the upload and the download: %+v", len(closes), closes)
	}
	for _, c := range closes {
		if c.Path != "/labs.csv" || c.Key != "partners/acme/labs.csv" || c.Bucket != s3srv.Bucket || c.Result != audit.ResultOK ||
			c.Bytes == nil || *c.Bytes != 6<<20+3 || c.SHA256 != wantSum || c.DurMS == nil || c.User != "acme" {
			t.Errorf("%s close: %+v; want /labs.csv, its key and bucket, ok, %d bytes, sha256 %s", c.Mode, c, 6<<20+3, wantSum)
		}
	}
	if closes[0].Mode != "write" || closes[1].Mode != "read" {
		t.Errorf("close modes %s, %s; want write then read", closes[0].Mode, closes[1].Mode)
	}
	if got := strings.Trim(aws.ToString(head.ETag), `"`); closes[0].ETag != got {
		t.Errorf("upload ETag %q; want S3's %q", closes[0].ETag, got)
	}
	for _, ev := range []struct{ event, path, target string }{
		{audit.EventMkdir, "/done", ""}, {audit.EventRename, "/labs.csv", "/done/labs.csv"}, {audit.EventList, "/done", ""},
	} {
		got := find(recs, func(r audit.Record) bool { return session(r) && r.Event == ev.event })
		if len(got) != 1 || got[0].Path != ev.path || got[0].Target != ev.target || got[0].Result != audit.ResultOK {
			t.Errorf("%s records %+v; want one, ok, for %s %s", ev.event, got, ev.path, ev.target)
		}
	}
	end := find(recs, func(r audit.Record) bool { return upload(r) && r.Event == audit.EventDisconnect })
	if len(end) != 1 || end[0].BytesIn == nil || *end[0].BytesIn < 6<<20 || end[0].BytesOut == nil || *end[0].BytesOut == 0 {
		t.Errorf("disconnect %+v; want one, with over 6 MiB in", end)
	}

	// Refused: the drop box may not list.
	denied := find(recs, func(r audit.Record) bool { return r.User == "drop" && r.Event == audit.EventList })
	if len(denied) != 1 || denied[0].Result != audit.ResultDenied || denied[0].Reason != "permission" ||
		denied[0].Error != "list refused: listing is not permitted for this user" {
		t.Errorf("drop box listing records %+v; want one denied, reason permission, with the message the client got", denied)
	}

	// Killed: the interrupted upload is recorded as aborted, with the bytes that came.
	killed := find(recs, func(r audit.Record) bool { return r.Event == audit.EventClose && r.Path == "/big.bin" })
	if len(killed) != 1 || killed[0].Result != audit.ResultAborted || killed[0].SHA256 != "" || killed[0].Bytes == nil || *killed[0].Bytes == 0 {
		t.Errorf("killed upload records %+v; want one aborted close with the bytes received and no hash", killed)
	}
}

// killedUpload starts a throttled upload of big.bin and kills the client
// once the multipart upload is under way.
func killedUpload(t *testing.T, g *gateway, dir, key string) {
	t.Helper()
	writeRandom(t, filepath.Join(dir, "big.bin"), 64<<20)
	args := append(g.sshOpts(key), "-P", g.port, "-l", "40000", "-b", "-", "acme@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("put big.bin\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a multipart upload to start", func() bool { return len(g.s3.MultipartUploads(t)) > 0 })
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, 20*time.Second, "the upload to be aborted", func() bool { return len(g.s3.MultipartUploads(t)) == 0 })
}

// TestE2E_AuditRevealsNoSecretOrName: with paths = "hmac", neither the audit
// trail nor the server's log names a file, and no secret ever reaches
// either: not the S3 secret key, the HMAC key, or any private key.
func TestE2E_AuditRevealsNoSecretOrName(t *testing.T) {
	s3srv := s3test.Start(t)
	hmacKey := make([]byte, 32)
	rand.Read(hmacKey)
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	if err := os.WriteFile(keyFile, hmacKey, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, s3srv, gatewayOpts{audit: fmt.Sprintf("hmac_key_file = %q\npaths = \"hmac\"", keyFile)})
	dir := t.TempDir()
	const name = "SMITH_JOHN_1970-01-01_MRN4417.csv"
	writeRandom(t, filepath.Join(dir, name), 7<<20)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put "+name+"\nget "+name+" back.csv\nmkdir SMITH\nrename "+name+" SMITH/"+name+"\n-rm MRN4417\n")
	g.sftp(t, dir, "drop", clientKeys["other"], "ls\n") // a refused key
	g.stop(t)

	trail, err := os.ReadFile(g.auditFile())
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"the S3 secret key":       s3srv.SecretKey,
		"the HMAC key":            string(hmacKey),
		"the HMAC key in hex":     hex.EncodeToString(hmacKey),
		"the HMAC key in base64":  base64.StdEncoding.EncodeToString(hmacKey),
		"the name of a file":      "SMITH",
		"a record number in name": "MRN4417",
	}
	hostKeys, _ := filepath.Glob(filepath.Join(filepath.Dir(g.config), "hostkeys", "*_key"))
	for _, f := range append(hostKeys, clientKeys["ed25519"], clientKeys["other"]) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				secrets[fmt.Sprintf("line %d of private key %s", i+1, filepath.Base(f))] = line
			}
		}
	}
	for where, text := range map[string]string{"the audit trail": string(trail), "the server log": g.logs.String()} {
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains %s", where, what)
			}
		}
	}

	// The hashes still correlate: the download is of the file uploaded.
	recs := readTrail(t, g.auditFile())
	closes := find(recs, func(r audit.Record) bool { return r.Event == audit.EventClose })
	if len(closes) != 2 || !strings.HasPrefix(closes[0].Path, "hmac:") || closes[0].Path != closes[1].Path || closes[0].Key != closes[1].Key {
		t.Errorf("close records %+v; want upload and download under the same keyed hash", closes)
	}
	if len(trail) == 0 || !strings.Contains(string(trail), `"mac":"`) {
		t.Errorf("records carry no MAC though hmac_key_file is set")
	}
}

// TestE2E_AuditTamperingIsCaught edits, removes, swaps and cuts lines of a
// trail written by real sessions, and runs the real `s3sftpd audit verify`
// on each copy: every change is caught and the first bad line named.
func TestE2E_AuditTamperingIsCaught(t *testing.T) {
	s3srv := s3test.Start(t)
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	key := make([]byte, 32)
	rand.Read(key)
	os.WriteFile(keyFile, key, 0o600)
	g := startGateway(t, s3srv, gatewayOpts{audit: fmt.Sprintf("hmac_key_file = %q", keyFile)})
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "a.csv"), 5000)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put a.csv\nget a.csv b.csv\nrename a.csv c.csv\nrm c.csv\n")
	g.stop(t)
	trail := filepath.Dir(g.auditFile())

	verify := func(dir string, withKey bool) (int, string) {
		args := []string{"audit", "verify"}
		if withKey {
			args = append(args, "-hmac-key-file", keyFile)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		out, err := exec.Command(binary, append(args, files...)...).CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := verify(trail, true); code != 0 || !strings.Contains(out, "MAC verified, checkpoint seq") {
		t.Fatalf("the untouched trail: exit %d\n%s; want OK with MAC and checkpoint", code, out)
	}
	uploadLine := func(lines []string) int {
		for i, l := range lines {
			if strings.Contains(l, `"event":"close","result":"ok"`) && strings.Contains(l, `"mode":"write"`) {
				return i
			}
		}
		t.Fatal("no upload close record")
		return 0
	}
	tests := []struct {
		name    string
		withKey bool
		edit    func(lines []string) []string
		want    string // regexp of verify's output
	}{
		{"edit-bytes", false, func(l []string) []string {
			i := uploadLine(l)
			l[i] = strings.Replace(l[i], `"bytes":5000`, `"bytes":50`, 1)
			return l
		}, `audit.jsonl:\d+: seq \d+: prev is not the SHA-256 of the line before`},
		{"edit-and-rechain-without-the-key", true, func(l []string) []string {
			i := uploadLine(l)
			l[i] = strings.Replace(l[i], `"bytes":5000`, `"bytes":50`, 1)
			return rechain(l, i)
		}, `seq \d+: MAC mismatch`},
		{"delete", false, func(l []string) []string { i := uploadLine(l); return append(l[:i], l[i+1:]...) },
			`audit.jsonl:\d+: seq \d+: follows seq \d+: record \d+ is missing`},
		{"swap", false, func(l []string) []string { i := uploadLine(l); l[i], l[i+1] = l[i+1], l[i]; return l },
			`audit.jsonl:\d+: seq \d+: follows seq \d+: record \d+ is missing \(removed or reordered\)`},
		{"insert", false, func(l []string) []string {
			i := uploadLine(l)
			return append(l[:i+1], append([]string{l[i]}, l[i+1:]...)...)
		}, `audit.jsonl:\d+: seq \d+: follows seq \d+: a record was inserted`},
		{"inject-free-text-and-a-fake-record", true, func(l []string) []string {
			i := uploadLine(l) + 1
			fake := strings.Replace(l[i-1], `"bytes":5000`, `"bytes":50`, 1)
			inject := append([]string{fake[:len(fake)-2]}, make([]string, 40)...) // a record made to look torn
			for n := range 40 {
				inject[n+1] = fmt.Sprintf("free text %d", n)
			}
			return append(l[:i], append(inject, l[i:]...)...)
		}, `audit.jsonl:\d+: seq \d+: not an audit record, nor is the line after it`},
		{"truncate-tail", false, func(l []string) []string { return l[:len(l)-3] },
			`log ends at seq \d+ but checkpoint seq \d+ was written .*: records after \d+ were removed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := copyDir(t, trail)
			path := filepath.Join(cp, "audit.jsonl")
			data, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			os.WriteFile(path, []byte(strings.Join(tt.edit(lines), "\n")+"\n"), 0o600)
			code, out := verify(cp, tt.withKey)
			if code != 1 || !regexp.MustCompile(tt.want).MatchString(out) {
				t.Errorf("verify: exit %d\n%s\nwant exit 1 and output matching %q", code, out, tt.want)
			}
		})
	}
}

// rechain recomputes prev from line i on, as someone without the MAC key
// would to hide an edit.
func rechain(lines []string, from int) []string {
	for i := max(from, 1); i < len(lines); i++ {
		sum := sha256.Sum256([]byte(lines[i-1]))
		var r map[string]any
		json.Unmarshal([]byte(lines[i]), &r)
		old := r["prev"].(string)
		lines[i] = strings.Replace(lines[i], `"prev":"`+old+`"`, `"prev":"`+hex.EncodeToString(sum[:])+`"`, 1)
	}
	return lines
}

// copyDir copies the files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600)
	}
	return dst
}
