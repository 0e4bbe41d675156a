package s3fs

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
)

// wireRecorder is a reverse proxy in front of the real S3 server that notes
// the encryption header of every request that creates an object.
type wireRecorder struct {
	mu     sync.Mutex
	writes map[string][]string // kind of write → x-amz-server-side-encryption values seen
}

func (w *wireRecorder) note(r *http.Request) {
	q := r.URL.Query()
	var kind string
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		kind = "CreateMultipartUpload"
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "" && !q.Has("partNumber"):
		kind = "CopyObject"
	case r.Method == http.MethodPut && q.Has("tagging"): // tags the object just written; creates nothing
		return
	case r.Method == http.MethodPut && !q.Has("partNumber"):
		kind = "PutObject"
	default:
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes[kind] = append(w.writes[kind], r.Header.Get("X-Amz-Server-Side-Encryption"))
}

// TestEncryption_EveryWriteCarriesSSE checks on the wire that every request
// creating an object asks S3 to encrypt it: small and multipart uploads,
// directory markers and rename copies (audit segments: ops.TestAuditShipper_SegmentsCarrySSE).
func TestEncryption_EveryWriteCarriesSSE(t *testing.T) {
	for _, mode := range []string{"sse", "envelope"} { // envelope encryption keeps SSE on top
		t.Run(mode, func(t *testing.T) { everyWriteCarriesSSE(t, mode == "envelope") })
	}
}

func everyWriteCarriesSSE(t *testing.T, envelope bool) {
	e := newEnv(t, ChecksumsCompat)
	target, _ := url.Parse(e.s3.Endpoint)
	rec := &wireRecorder{writes: map[string][]string{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.note(r)
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cfg := testConfig(e.s3, ChecksumsCompat)
	cfg.Endpoint = "http://" + ln.Addr().String()
	if envelope {
		cfg.Keys, cfg.Envelope = testKeyring(t), true
	}
	client, err := dialStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e.fs, err = New(objectsOver(client, cfg), cfg, testLog()); err != nil {
		t.Fatal(err)
	}
	c := e.session(t, "u/", auth.AllPerms)
	for name, size := range map[string]int{"/small.bin": 1000, "/large.bin": 3 * minPartSize} {
		if err := writeFile(t, c, name, randBytes(size)); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
	}
	if err := c.Mkdir("/dir"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("/small.bin", "/dir/small.bin"); err != nil {
		t.Fatal(err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, kind := range []string{"PutObject", "CreateMultipartUpload", "CopyObject"} {
		seen := rec.writes[kind]
		if len(seen) == 0 {
			t.Errorf("no %s request went to S3", kind)
		}
		for _, v := range seen {
			if v != SSEAES256 {
				t.Errorf("%s sent x-amz-server-side-encryption %q; want %q", kind, v, SSEAES256)
			}
		}
	}
	t.Logf("writes seen: %v", rec.writes)
}
