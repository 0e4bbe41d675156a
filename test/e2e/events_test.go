package e2e

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// hookEvent is an event as a receiver reads it: the documented field names
// (docs/events.md), decoded without the gateway's own types.
type hookEvent struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Time       string `json:"time"`
	User       string `json:"user"`
	KeyFP      string `json:"key_fp"`
	Remote     string `json:"remote"`
	Session    string `json:"session"`
	Path       string `json:"path"`
	Folder     string `json:"folder"`
	Bucket     string `json:"bucket"`
	Key        string `json:"key"`
	VersionID  string `json:"version_id"`
	Size       *int64 `json:"size"`
	SHA256     string `json:"sha256"`
	Result     string `json:"result"`
	Reason     string `json:"reason"`
	TargetPath string `json:"target_path"`
	TargetKey  string `json:"target_key"`
}

// receiver is a webhook endpoint on 127.0.0.1 that checks each request's
// signature and keeps the events it accepted, duplicates included.
type receiver struct {
	srv    *httptest.Server
	secret []byte
	file   string // the secret file, owner-only
	down   atomic.Bool

	mu       sync.Mutex
	got      []hookEvent
	attempts int
	problems []string
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{secret: []byte("e2e-webhook-secret-0123456789abcdef")}
	r.file = filepath.Join(t.TempDir(), "hook.secret")
	if err := os.WriteFile(r.file, r.secret, 0o600); err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	m := hmac.New(sha256.New, r.secret)
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	var e hookEvent
	switch err := json.Unmarshal(body, &e); {
	case !hmac.Equal([]byte(req.Header.Get("X-S3sftpd-Signature")), []byte(want)):
		r.problems = append(r.problems, "bad signature on "+string(body))
	case err != nil || req.Header.Get("Content-Type") != "application/json":
		r.problems = append(r.problems, fmt.Sprintf("not JSON (%v, %q): %s", err, req.Header.Get("Content-Type"), body))
	case req.Header.Get("X-S3sftpd-Event-Id") != e.ID:
		r.problems = append(r.problems, "id header "+req.Header.Get("X-S3sftpd-Event-Id")+" differs from the body's "+e.ID)
	default:
		r.got = append(r.got, e)
		return
	}
	http.Error(w, "refused", http.StatusBadRequest)
}

// config is the [[events.webhook]] table for the receiver.
func (r *receiver) config(types string) string {
	s := fmt.Sprintf("[[events.webhook]]\nurl = %q\nsecret_file = %q\n", r.srv.URL+"/hook", r.file)
	if types != "" {
		s += "types = " + types + "\n"
	}
	return s
}

func (r *receiver) events() []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiver) tries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

func (r *receiver) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Errorf("receiver: %s", p)
	}
}

// waitEvent waits for an event of type typ at path and returns it.
func (r *receiver) waitEvent(t *testing.T, typ, path string) hookEvent {
	t.Helper()
	var found hookEvent
	waitFor(t, 20*time.Second, typ+" event for "+path, func() bool {
		for _, e := range r.events() {
			if e.Type == typ && e.Path == path {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// trailIDs are the ids of the trail's records that match: the hex SHA-256
// of their lines, which the events must carry.
func trailIDs(t *testing.T, file string, match func(line string) bool) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if match(sc.Text()) {
			sum := sha256.Sum256(sc.Bytes())
			ids = append(ids, hex.EncodeToString(sum[:]))
		}
	}
	return ids
}

func committedUpload(line string) bool {
	return strings.Contains(line, `"event":"close"`) && strings.Contains(line, `"mode":"write"`) && strings.Contains(line, `"sha256"`)
}

func keyFP(t *testing.T, kind string) string {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pubKey(t, kind)))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(pk)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestEvents_Webhook: every kind of file operation, by OpenSSH, psftp and
// rclone, reaches a webhook as a signed event naming who, from where, what
// and which checksum.
func TestEvents_Webhook(t *testing.T) {
	s3srv := s3test.Start(t)
	rcv := startReceiver(t)
	g := startGateway(t, s3srv, gatewayOpts{extra: rcv.config("")})
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	a := writeRandom(t, filepath.Join(dir, "a.bin"), 300<<10)
	g.mustSFTP(t, dir, "acme", key, "put a.bin\nget a.bin a.back\nrename a.bin b.bin\nmkdir d\nrm b.bin\n")
	p := writeRandom(t, filepath.Join(dir, "p.bin"), 70<<10)
	if out, err := psftpOps(t, g).put(filepath.Join(dir, "p.bin"), "/p.bin"); err != nil {
		t.Fatalf("psftp put: %v\n%s", err, out)
	}
	r := writeRandom(t, filepath.Join(dir, "r.bin"), 6<<20+7) // multipart, under rclone's .partial name, then renamed
	if out, err := rcloneOps(t, g).put(filepath.Join(dir, "r.bin"), "/r.bin"); err != nil {
		t.Fatalf("rclone copyto: %v\n%s", err, out)
	}
	g.mustSFTP(t, dir, "drop", key, "put p.bin x.bin\n")
	if out, err := g.sftp(t, dir, "drop", key, "put a.back x.bin\n"); err == nil {
		t.Fatalf("the drop box let a file be overwritten:\n%s", out)
	}

	fp := keyFP(t, "ed25519")
	for _, tt := range []struct {
		typ, path, user, key string
		data                 []byte
	}{
		{"upload", "/a.bin", "acme", "partners/acme/a.bin", a},
		{"download", "/a.bin", "acme", "partners/acme/a.bin", a},
		{"upload", "/p.bin", "acme", "partners/acme/p.bin", p},
		{"upload", "/r.bin", "acme", "partners/acme/r.bin", r},
		{"upload", "/x.bin", "drop", "partners/drop/x.bin", p},
	} {
		e := rcv.waitEvent(t, tt.typ, tt.path)
		if e.User != tt.user || e.KeyFP != fp || !strings.HasPrefix(e.Remote, "127.0.0.1:") || e.Session == "" || e.Result != "ok" {
			t.Errorf("%s %s: got user %q, key %q, remote %q, session %q, result %q; want %s, %s, 127.0.0.1, a session, ok",
				tt.typ, tt.path, e.User, e.KeyFP, e.Remote, e.Session, e.Result, tt.user, fp)
		}
		if e.Bucket != s3srv.Bucket || e.Key != tt.key || e.Size == nil || *e.Size != int64(len(tt.data)) || e.SHA256 != sha256Hex(tt.data) {
			t.Errorf("%s %s: got bucket %q, key %q, size %v, sha256 %s; want %s, %s, %d, %s", tt.typ, tt.path,
				e.Bucket, e.Key, e.Size, e.SHA256, s3srv.Bucket, tt.key, len(tt.data), sha256Hex(tt.data))
		}
		if len(e.ID) != 64 || e.Time == "" {
			t.Errorf("%s %s: got id %q, time %q; want a 64-digit id and a time", tt.typ, tt.path, e.ID, e.Time)
		}
	}
	if e := rcv.waitEvent(t, "rename", "/a.bin"); e.TargetPath != "/b.bin" || e.TargetKey != "partners/acme/b.bin" || e.KeyFP != fp {
		t.Errorf("rename: got target %q (%q), key %q; want /b.bin (partners/acme/b.bin), %s", e.TargetPath, e.TargetKey, e.KeyFP, fp)
	}
	if e := rcv.waitEvent(t, "mkdir", "/d"); e.User != "acme" || e.Key != "partners/acme/d" {
		t.Errorf("mkdir: got user %q, key %q; want acme, partners/acme/d", e.User, e.Key)
	}
	if e := rcv.waitEvent(t, "delete", "/b.bin"); e.User != "acme" || e.Key != "partners/acme/b.bin" {
		t.Errorf("delete: got user %q, key %q; want acme, partners/acme/b.bin", e.User, e.Key)
	}
	if e := rcv.waitEvent(t, "upload_failed", "/x.bin"); e.User != "drop" || e.Result != "denied" || !strings.Contains(e.Reason, "cannot be overwritten") {
		t.Errorf("upload_failed: got user %q, result %q, reason %q; want drop, denied, the refusal the client got", e.User, e.Result, e.Reason)
	}
	for _, e := range rcv.events() {
		if strings.Contains(e.Path, ".partial") {
			t.Errorf("got a %s event for rclone's temporary name %s; want only the final name", e.Type, e.Path)
		}
	}
	rcv.check(t)
}

// TestEvents_ReceiverDownThenUp: events that arrive while the receiver
// answers 503 are retried and all arrive once it is back; their ids
// deduplicate to exactly the trail's uploads.
func TestEvents_ReceiverDownThenUp(t *testing.T) {
	s3srv := s3test.Start(t)
	rcv := startReceiver(t)
	rcv.down.Store(true)
	g := startGateway(t, s3srv, gatewayOpts{extra: rcv.config(`["upload"]`)})
	dir := t.TempDir()
	for i := range 3 {
		writeRandom(t, filepath.Join(dir, fmt.Sprintf("f%d.bin", i)), 1000+int64(i))
	}
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put f0.bin\nput f1.bin\nput f2.bin\n")
	waitFor(t, 20*time.Second, "the receiver to refuse a few deliveries", func() bool { return rcv.tries() >= 3 })
	rcv.down.Store(false)
	want := trailIDs(t, g.auditFile(), committedUpload)
	if len(want) != 3 {
		t.Fatalf("got %d committed uploads in the trail; want 3", len(want))
	}
	waitFor(t, 40*time.Second, "every upload event", func() bool {
		seen := map[string]bool{}
		for _, e := range rcv.events() {
			seen[e.ID] = true
		}
		return len(seen) == len(want)
	})
	got := map[string]bool{}
	for _, e := range rcv.events() {
		got[e.ID] = true
	}
	for _, id := range want {
		if !got[id] {
			t.Errorf("upload %s never arrived", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d distinct ids; want exactly the %d uploads", len(got), len(want))
	}
	rcv.check(t)
}

// TestEvents_KillAfterCommit: the gateway is killed (SIGKILL) right after an
// upload commits, while the receiver is down: the event arrives after the
// restart, with the id its trail line gives.
func TestEvents_KillAfterCommit(t *testing.T) {
	s3srv := s3test.Start(t)
	rcv := startReceiver(t)
	rcv.down.Store(true)
	trail := filepath.Join(t.TempDir(), "audit", "audit.jsonl")
	opts := gatewayOpts{extra: rcv.config(""), audit: fmt.Sprintf("file = %q", trail)}
	g := startGateway(t, s3srv, opts)
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "k.bin"), 4096)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put k.bin\n")
	want := trailIDs(t, trail, committedUpload)
	if len(want) != 1 {
		t.Fatalf("got %d committed uploads in the trail; want 1", len(want))
	}
	waitFor(t, 10*time.Second, "a refused delivery", func() bool { return rcv.tries() >= 1 })
	g.cmd.Process.Kill()
	err := <-g.done
	g.done <- err
	if got, _ := s3srv.Get(t, "partners/acme/k.bin"); !bytes.Equal(got, data) {
		t.Fatalf("k.bin is not in S3 whole after the kill")
	}
	rcv.down.Store(false)
	startGateway(t, s3srv, opts)
	e := rcv.waitEvent(t, "upload", "/k.bin")
	if e.ID != want[0] || e.KeyFP != keyFP(t, "ed25519") || e.SHA256 != sha256Hex(data) {
		t.Errorf("got id %s, key %q, sha256 %s; want %s, the session's key, %s", e.ID, e.KeyFP, e.SHA256, want[0], sha256Hex(data))
	}
	rcv.check(t)
}

// TestEvents_AbortedUpload: a client killed mid-upload gives upload_failed,
// result aborted, with the bytes received; no upload event, no object.
func TestEvents_AbortedUpload(t *testing.T) {
	s3srv := s3test.Start(t)
	rcv := startReceiver(t)
	g := startGateway(t, s3srv, gatewayOpts{extra: rcv.config(`["upload", "upload_failed"]`)})
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "big.bin"), 12<<20)
	args := append(g.sshOpts(clientKeys["ed25519"]), "-P", g.port, "-l", "32000", "-b", "-", "acme@127.0.0.1")
	c := exec.Command("sftp", args...)
	c.Dir, c.Stdin = dir, strings.NewReader("put big.bin\n")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the upload to stream a part", func() bool { return len(s3srv.MultipartUploads(t)) >= 1 })
	c.Process.Kill()
	c.Wait()
	e := rcv.waitEvent(t, "upload_failed", "/big.bin")
	if e.Result != "aborted" || e.Size == nil || *e.Size <= 0 || *e.Size >= 12<<20 || e.Reason == "" || e.KeyFP != keyFP(t, "ed25519") {
		t.Errorf("got result %q, size %v, reason %q, key %q; want aborted, the bytes received, why, the key", e.Result, e.Size, e.Reason, e.KeyFP)
	}
	for _, e := range rcv.events() {
		if e.Type == "upload" {
			t.Errorf("got an upload event for %s; want none", e.Path)
		}
	}
	if _, ok := s3srv.Get(t, "partners/acme/big.bin"); ok {
		t.Error("big.bin is in S3 after the client was killed")
	}
	rcv.check(t)
}

// TestEvents_Lifecycle: in an /outbound folder with pickup and retention, a
// whole download gives download then pickup_delete in the same session; a
// file nobody fetches gives not_picked_up, then retention_delete, from the
// server (no session, no key).
func TestEvents_Lifecycle(t *testing.T) {
	s3srv := s3test.Start(t)
	rcv := startReceiver(t)
	s3srv.Put(t, "outbound/acme/wait.csv", []byte("nobody fetches this"))
	report := bytes.Repeat([]byte("lab results;"), 1000)
	s3srv.Put(t, "outbound/acme/report.csv", report)
	g := startGateway(t, s3srv, gatewayOpts{users: pickupUsers(t),
		extra: pickupGroup("delete_after_download = true\n  retention = \"12s\"\n  not_picked_up_after = \"10s\"") + rcv.config("")})
	dir := t.TempDir()
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "get /outbound/report.csv\n")
	down := rcv.waitEvent(t, "download", "/outbound/report.csv")
	picked := rcv.waitEvent(t, "pickup_delete", "/outbound/report.csv")
	if picked.Session != down.Session || picked.KeyFP != keyFP(t, "ed25519") || picked.Key != "outbound/acme/report.csv" ||
		picked.Folder != "/outbound" || picked.Size == nil || *picked.Size != int64(len(report)) || picked.VersionID != down.VersionID {
		t.Errorf("pickup_delete = %+v; want the download's session, key and version, folder /outbound, %d bytes (download %+v)", picked, len(report), down)
	}
	waiting := rcv.waitEvent(t, "not_picked_up", "/outbound/wait.csv")
	gone := rcv.waitEvent(t, "retention_delete", "/outbound/wait.csv")
	for _, e := range []hookEvent{waiting, gone} {
		if e.User != "acme" || e.Key != "outbound/acme/wait.csv" || e.Bucket != s3srv.Bucket || e.Session != "" || e.KeyFP != "" || e.Result != "ok" {
			t.Errorf("%s = %+v; want acme's wait.csv, a server record without session or key", e.Type, e)
		}
	}
	var order []string
	for _, e := range rcv.events() {
		order = append(order, e.Type)
	}
	if i, j := slices.Index(order, "download"), slices.Index(order, "pickup_delete"); i < 0 || j < i {
		t.Errorf("got events %v; want the download before its pickup_delete", order)
	}
	rcv.check(t)
}
