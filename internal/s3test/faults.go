package s3test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Toxiproxy is a running Shopify toxiproxy server with one proxy in front of
// an S3 server: Endpoint reaches the store through it, and AddToxic injects
// network faults (resets, timeouts, latency, bandwidth caps, cut streams).
type Toxiproxy struct {
	Endpoint string // http://127.0.0.1:PORT of the proxy, for the S3 client
	api      string
}

// StartToxiproxy runs toxiproxy on loopback with a proxy to upstream (an
// http://host:port endpoint), and stops it when the test ends.
func StartToxiproxy(t testing.TB, upstream string) *Toxiproxy {
	t.Helper()
	apiPort := freePort(t)
	bin := findBinary(t, "toxiproxy-server", "scripts/test installs it (go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0, renamed toxiproxy-server)")
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", apiPort)
	startLogged(t, "toxiproxy", cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	tp := &Toxiproxy{api: "http://127.0.0.1:" + apiPort}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get(tp.api + "/version"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("toxiproxy did not start on %s", tp.api)
		}
		time.Sleep(20 * time.Millisecond)
	}
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + freePort(t)
	tp.call(t, "POST", "/proxies", map[string]any{"name": "s3", "listen": listen, "upstream": u.Host, "enabled": true})
	tp.Endpoint = "http://" + listen
	return tp
}

// Toxic is one fault: a toxiproxy toxic type (latency, bandwidth, timeout,
// reset_peer, limit_data, slicer, slow_close), the direction it acts on
// ("upstream": requests to S3, "downstream": answers), the share of
// connections it hits, and its attributes.
type Toxic struct {
	Type       string
	Stream     string
	Toxicity   float64
	Attributes map[string]int
}

// AddToxic turns a fault on until the test ends or RemoveToxics.
func (tp *Toxiproxy) AddToxic(t testing.TB, tx Toxic) {
	t.Helper()
	tp.call(t, "POST", "/proxies/s3/toxics", map[string]any{
		"name": tx.Type + "_" + tx.Stream, "type": tx.Type, "stream": tx.Stream,
		"toxicity": tx.Toxicity, "attributes": tx.Attributes,
	})
}

// RemoveToxics turns every fault off.
func (tp *Toxiproxy) RemoveToxics(t testing.TB) {
	t.Helper()
	var toxics []struct{ Name string }
	json.Unmarshal(tp.call(t, "GET", "/proxies/s3/toxics", nil), &toxics)
	for _, x := range toxics {
		tp.call(t, "DELETE", "/proxies/s3/toxics/"+x.Name, nil)
	}
}

func (tp *Toxiproxy) call(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	var in io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		in = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, tp.api+path, in)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("toxiproxy %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("toxiproxy %s %s: %s: %s", method, path, resp.Status, out)
	}
	return out
}

// ErrorProxy is an HTTP proxy in front of an S3 server that answers a chosen
// share of requests itself, with S3's 503 SlowDown or 500 InternalError, as
// an overloaded or failing S3 does. The request is not forwarded, so S3
// never sees it.
type ErrorProxy struct {
	Endpoint string
	share    atomic.Uint64 // math.Float64bits of the share of requests refused
	refused  atomic.Int64
	total    atomic.Int64
}

// StartErrorProxy proxies to upstream (http://host:port) on loopback until
// the test ends. It refuses nothing until SetShare.
func StartErrorProxy(t testing.TB, upstream string) *ErrorProxy {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	ep := &ErrorProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	quiet := log.New(io.Discard, "", 0) // broken connections are the point of the test, not news
	rp.ErrorLog = quiet
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	srv := &http.Server{ErrorLog: quiet, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep.total.Add(1)
		mu.Lock()
		roll := rng.Float64()
		mu.Unlock()
		if roll < ep.Share() {
			ep.refused.Add(1)
			io.Copy(io.Discard, r.Body)
			code, status := "SlowDown", http.StatusServiceUnavailable
			if roll < ep.Share()/2 {
				code, status = "InternalError", http.StatusInternalServerError
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by the test</Message></Error>`, code)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ep.Endpoint = "http://" + ln.Addr().String()
	return ep
}

// SetShare sets the share of requests refused, from 0 to 1.
func (ep *ErrorProxy) SetShare(share float64) { ep.share.Store(math.Float64bits(share)) }

// Share is the share of requests refused.
func (ep *ErrorProxy) Share() float64 { return math.Float64frombits(ep.share.Load()) }

// Counts says how many requests came and how many were refused.
func (ep *ErrorProxy) Counts() (total, refused int64) { return ep.total.Load(), ep.refused.Load() }
