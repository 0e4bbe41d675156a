package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/store"
)

func TestAuditShipper_StoresSegmentsOnce(t *testing.T) {
	e := newEnv(t)
	ship := NewAuditShipper(e.st, e.s3.Bucket, "audit/")
	ctx := context.Background()
	seg := []byte(`{"seq":1,"event":"server_start"}` + "\n")
	if err := ship.Ship(ctx, "2026/11/24/a.jsonl", seg); err != nil {
		t.Fatalf("Ship: %v", err)
	}
	if got, ok := e.s3.Get(t, "audit/2026/11/24/a.jsonl"); !ok || !bytes.Equal(got, seg) {
		t.Fatalf("stored %q (exists %v); want the segment", got, ok)
	}
	// A retry of a segment that did arrive succeeds and changes nothing.
	if err := ship.Ship(ctx, "2026/11/24/a.jsonl", seg); err != nil {
		t.Errorf("Ship of the same segment again = %v; want nil", err)
	}
	// A different segment under a taken name is refused: segments are never overwritten.
	err := ship.Ship(ctx, "2026/11/24/a.jsonl", []byte(`{"seq":1,"event":"forged"}`+"\n"))
	if err == nil || !strings.Contains(err.Error(), "a different object already has this name") {
		t.Errorf("Ship over a different segment = %v; want refused", err)
	}
	if got, _ := e.s3.Get(t, "audit/2026/11/24/a.jsonl"); !bytes.Equal(got, seg) {
		t.Errorf("stored segment changed to %q", got)
	}
}

// TestAuditShipper_ShipsRotatedSegments: a Log rotating small segments ships
// every one of them, byte for byte, under its file name; while the store is
// down the trail denies new file operations, and it recovers on its own.
func TestAuditShipper_ShipsRotatedSegments(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	l, err := audit.Open(audit.Config{File: path, RotateSize: 4096, Ship: impatient{NewAuditShipper(e.st, e.s3.Bucket, "audit/gw1/")}})
	if err != nil {
		t.Fatal(err)
	}
	write := func(n int) {
		t.Helper()
		for i := range n {
			if err := l.Write(audit.Record{Event: audit.EventMkdir, Path: fmt.Sprintf("/some/longer/directory/name/%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(60)
	waitUntil(t, "the first segments to ship", func() bool { return len(e.s3.Keys(t, "audit/gw1/")) >= 2 })

	if e.s3.Root != "" { // versitygw, which the test started and can stop
		e.s3.Stop()
		write(60)
		waitUntil(t, "Err to deny while the store is down", func() bool { return errors.Is(l.Err(), audit.ErrUnavailable) })
		e.s3.Restart(t)
		waitUntil(t, "Err to clear once the store is back", func() bool { return l.Err() == nil })
	} else {
		t.Log("the store was not started by this test: the outage is checked on versitygw only")
		write(60)
	}

	if err := l.Close(); err != nil { // rotates the live file and ships it
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("live file after Close: %v; want it rotated and shipped", err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if len(segs) < 4 {
		t.Fatalf("%d segments; want 4 or more", len(segs))
	}
	var keys []string
	for _, seg := range segs {
		keys = append(keys, "audit/gw1/"+filepath.Base(seg))
		local, _ := os.ReadFile(seg)
		if got, ok := e.s3.Get(t, "audit/gw1/"+filepath.Base(seg)); !ok || !bytes.Equal(got, local) {
			t.Errorf("segment %s in the bucket: exists %v, identical %v; want it byte-identical", filepath.Base(seg), ok, bytes.Equal(got, local))
		}
	}
	if got := e.s3.Keys(t, "audit/gw1/"); !slices.Equal(got, keys) {
		t.Errorf("bucket holds %v; want exactly the segments %v", got, keys)
	}
	state, _ := os.ReadFile(path + ".shipped")
	if want := filepath.Base(segs[len(segs)-1]) + "\n"; string(state) != want {
		t.Errorf("ship state %q; want %q", state, want)
	}
}

// impatient gives each ship 2 s, so the SDK's retries against a stopped
// store do not make the test wait.
type impatient struct{ audit.Shipper }

func (s impatient) Ship(ctx context.Context, name string, seg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.Shipper.Ship(ctx, name, seg)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAuditShipper_SegmentsCarrySSE checks on the wire that a shipped
// segment asks S3 to encrypt it, as every other write of the gateway does.
func TestAuditShipper_SegmentsCarrySSE(t *testing.T) {
	e := newEnv(t)
	target, _ := url.Parse(e.s3.Endpoint)
	var (
		mu   sync.Mutex
		puts []string // x-amz-server-side-encryption of every PUT
	)
	proxy := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			puts = append(puts, r.Header.Get("X-Amz-Server-Side-Encryption"))
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cfg := e.cfg
	cfg.Endpoint = "http://" + ln.Addr().String()
	st, err := store.Dial(context.Background(), cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := NewAuditShipper(st, e.s3.Bucket, "audit/").Ship(context.Background(), "seg.jsonl", []byte("{}\n")); err != nil {
		t.Fatalf("ship an audit segment: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(puts) != 1 || puts[0] != s3fs.SSEAES256 {
		t.Errorf("got PUTs with x-amz-server-side-encryption %q; want one with %q", puts, s3fs.SSEAES256)
	}
}
