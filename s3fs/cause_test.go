package s3fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
)

// unreachableS3 sends the copies, parts and aborts of the real client to a
// loopback port nothing listens on: they fail as when the network to S3
// drops, with the SDK's own error text, request URL and all.
type unreachableS3 struct {
	s3API
	dead string // http://127.0.0.1:PORT, closed
}

func (u unreachableS3) redirect(o *s3.Options) { o.BaseEndpoint = aws.String(u.dead) }

func (u unreachableS3) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	return u.s3API.CopyObject(ctx, in, append(o, u.redirect)...)
}

func (u unreachableS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return u.s3API.UploadPart(ctx, in, append(o, u.redirect)...)
}

func (u unreachableS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return u.s3API.AbortMultipartUpload(ctx, in, append(o, u.redirect)...)
}

// deadEndpoint is the URL of a loopback port that refuses connections.
func deadEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// syncBuffer is a log destination shared by sessions and the sweep.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Names of the failing operations: upper-case letters from G to Z and a
// space, which no hash, id or log word holds, and which S3 URLs escape.
const (
	causeTemp     = "/QZXJ VWKP.csv.filepart" // uploaded under its final key, "QZXJ VWKP.csv"
	causeFrom     = "/RMNS TQYW.csv"
	causeTo       = "/RMNT ZKXG.csv"
	causeDir      = "/HLQV SRNM"
	causeChild    = "JGRY WVUT.csv"
	causeDirTo    = "/HLQW PKZS"
	causeHome     = "partners/acme/"
	causeFinalKey = causeHome + "QZXJ VWKP.csv"
)

// failWithNames runs, on a real store, an upload under a temporary name, a
// rename onto a new name and a directory rename whose S3 requests fail on a
// dropped connection, then an orphan sweep whose abort fails the same way,
// and returns the server log.
func failWithNames(t *testing.T, hashNames bool) string {
	t.Helper()
	srv := s3test.Start(t)
	cfg := testConfig(srv, ChecksumsCompat)
	cfg.MaxAttempts, cfg.HideNames = 1, hashNames // one try: a refused connection fails at once
	client, err := dialStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fsys, err := New(objectsOver(unreachableS3{client, deadEndpoint(t)}, cfg), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s3: srv, fs: fsys, api: client, obj: fsys.obj.(keptime.Indexing).Objects, cfg: cfg}
	l, err := audit.Open(audit.Config{Stdout: io.Discard, HMACKey: randBytes(32), HashPaths: hashNames})
	if err != nil {
		t.Fatal(err)
	}
	c := e.loggedSession(t, causeHome, auth.AllPerms, l.Session("s1").WithUser("tester"), log)

	if err := writeFile(t, c, causeTemp, randBytes(minPartSize+1000)); err == nil {
		t.Error("upload with its parts unreachable succeeded")
	}
	srv.Put(t, causeHome+strings.TrimPrefix(causeFrom, "/"), []byte("from"))
	if err := c.Rename(causeFrom, causeTo); err == nil {
		t.Error("rename with its copy unreachable succeeded")
	}
	srv.Put(t, causeHome+strings.TrimPrefix(causeDir, "/")+"/"+causeChild, []byte("child"))
	if err := c.Rename(causeDir, causeDirTo); err == nil {
		t.Error("directory rename with its copies unreachable succeeded")
	}
	// the upload whose abort failed is the orphan: the sweep's abort
	// (ops.Sweep, through the FS's object API) fails again, and is logged
	// as ops.Sweeper logs a failed sweep: through Cause
	out, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket, Prefix: aws.String(causeHome)})
	if err != nil {
		t.Fatal(err)
	}
	for _, up := range out.Uploads {
		id := aws.ToString(up.UploadId)
		if err := fsys.Objects().Abort(context.Background(), srv.Bucket, aws.ToString(up.Key), id); err != nil {
			log.Error("orphan sweep failed", "err", fsys.Cause(fmt.Errorf("abort multipart upload %s in %s: %w", id, srv.Bucket, err)))
		}
	}
	return logs.String()
}

// TestCause_HidesNamesInErrors: with audit paths = "hmac", the cause of a
// failed S3 call names no file in the server log, neither as written nor
// URL-escaped in the request URL of a network error, nor through the
// upload's final key, the rename's target or a moved directory's children;
// it still says what failed. With plain paths the same log holds the
// escaped names, so the check has something to catch.
func TestCause_HidesNamesInErrors(t *testing.T) {
	names := []string{causeTemp, causeFrom, causeTo, causeDir, causeChild, causeDirTo}
	stems := func() []string { // the name part of each, whose every 4-character run is the name's own
		var out []string
		for _, n := range names {
			out = append(out, strings.TrimPrefix(strings.SplitN(n, ".", 2)[0], "/"))
		}
		return out
	}()

	plain := failWithNames(t, false)
	for _, want := range []string{url.PathEscape("QZXJ VWKP.csv") + "?", url.PathEscape("RMNT ZKXG.csv"), causeFinalKey} {
		if !strings.Contains(plain, want) {
			t.Errorf("with plain paths the log lacks %q; the failures did not reach it:\n%s", want, plain)
		}
	}

	hashed := failWithNames(t, true)
	noNameIn(t, "the log", hashed, stems...)
	for _, want := range []string{
		`"op":"upload"`, `"op":"rename"`, "UploadPart", "CopyObject", "AbortMultipartUpload",
		"connection refused", "/<path hidden>", "orphan sweep failed", "abort multipart upload failed",
	} {
		if !strings.Contains(hashed, want) {
			t.Errorf("with hashed paths the log lacks %q, which tells what failed", want)
		}
	}
	if t.Failed() {
		t.Logf("log with hashed paths:\n%s", hashed)
	}
}

// TestCause_KeysLongestFirst: a directory's key is replaced after its
// children's, whatever order the caller names them in, so no child's name
// is left after the directory's hash.
func TestCause_KeysLongestFirst(t *testing.T) {
	l, err := audit.Open(audit.Config{Stdout: io.Discard, HMACKey: randBytes(32), HashPaths: true})
	if err != nil {
		t.Fatal(err)
	}
	h := &handlers{audit: l.Session("s1")}
	err = fmt.Errorf("copy %s to %s: %w", "home/DIR/CHILD.csv", "home/NEW/CHILD.csv", errors.New("refused"))
	got := h.cause(err, "home/DIR", "home/NEW", "home/DIR/CHILD.csv", "home/NEW/CHILD.csv")
	want := "copy " + h.audit.Name("home/DIR/CHILD.csv") + " to " + h.audit.Name("home/NEW/CHILD.csv") + ": refused"
	if got != want {
		t.Errorf("got cause %q; want %q", got, want)
	}
	if got := (&handlers{}).cause(err, "home/DIR"); got != err.Error() {
		t.Errorf("got cause %q without hashing; want the error's text %q", got, err.Error())
	}
}

// noNameIn fails when text holds any 4-character run of a name, as written
// or URL-escaped.
func noNameIn(t *testing.T, where, text string, names ...string) {
	t.Helper()
	for _, name := range names {
		for _, form := range []string{name, url.PathEscape(name), url.QueryEscape(name)} {
			for i := 0; i+4 <= len(form); i++ {
				if run := form[i : i+4]; strings.Contains(text, run) {
					t.Errorf("%s holds %q of the name %q", where, run, name)
				}
			}
		}
	}
}

// TestCause_RefusedPendingRenameNamesNoFile: the refusal of a pending
// upload's rename onto another name is recorded in the trail, and with
// hashed paths the record names neither file.
func TestCause_RefusedPendingRenameNamesNoFile(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	tr := &trail{}
	l, err := audit.Open(audit.Config{Stdout: tr, HMACKey: randBytes(32), HashPaths: true})
	if err != nil {
		t.Fatal(err)
	}
	c := e.auditedSession(t, causeHome, auth.AllPerms, l.Session("s1").WithUser("tester"))
	if err := writeFile(t, c, causeTemp, randBytes(minPartSize+1000)); err != nil {
		t.Fatal(err)
	}
	err = c.Rename(causeTemp, causeTo)
	if err == nil || !strings.Contains(err.Error(), "without its temporary suffix") {
		t.Fatalf("rename of a pending upload onto another name: got %v; want it refused", err)
	}
	tr.mu.Lock()
	text := tr.buf.String()
	tr.mu.Unlock()
	if !strings.Contains(text, `"result":"error"`) {
		t.Fatalf("no refused rename in the trail:\n%s", text)
	}
	noNameIn(t, "the trail", text, "QZXJ VWKP", "RMNT ZKXG")
}
