package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// adminAddr is the admin listener's address from the gateway's log.
func (g *gateway) adminAddr(t *testing.T) string {
	t.Helper()
	var addr string
	waitFor(t, 10*time.Second, "admin listening", func() bool {
		for _, line := range strings.Split(g.logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	})
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape parses /metrics into metric families.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := get(t, "http://"+addr+"/metrics")
	if status != 200 {
		t.Fatalf("GET /metrics: %d", status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mf
}

// value is the value of the series of family name whose labels include
// want; -1 when there is none.
func value(mf map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := mf[name]
	if !ok {
		return -1
	}
	for _, m := range f.Metric {
		match := true
		for k, v := range want {
			found := false
			for _, lp := range m.Label {
				found = found || lp.GetName() == k && lp.GetValue() == v
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestE2E_AdminMetrics drives real OpenSSH sessions through the gateway and
// checks what /metrics, /healthz and /readyz say about them.
func TestE2E_AdminMetrics(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{extra: "[admin]\nlisten = \"127.0.0.1:0\"\n"})
	addr := g.adminAddr(t)

	if status, _ := get(t, "http://"+addr+"/healthz"); status != 200 {
		t.Errorf("GET /healthz: %d; want 200", status)
	}
	if status, body := get(t, "http://"+addr+"/readyz"); status != 200 {
		t.Errorf("GET /readyz: %d %s; want 200", status, body)
	}

	dir := t.TempDir()
	const size = 6<<20 + 5 // multipart with 5 MiB parts
	writeRandom(t, filepath.Join(dir, "in.bin"), size)
	writeRandom(t, filepath.Join(dir, "small.bin"), 100)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put in.bin\nget in.bin out.bin\n-get missing.bin\n")
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "ls\n")
	if _, err := g.sftp(t, dir, "drop", clientKeys["other"], "ls\n"); err == nil {
		t.Fatalf("login with a key that is not the user's succeeded")
	}
	if out, err := g.sftp(t, dir, "drop", clientKeys["ed25519"], "put small.bin\nput small.bin\n"); err == nil {
		t.Fatalf("an overwrite by a user without overwrite succeeded:\n%s", out)
	}

	var mf map[string]*dto.MetricFamily
	waitFor(t, 10*time.Second, "sessions closed", func() bool {
		mf = scrape(t, addr)
		return value(mf, "s3sftpd_sessions", nil) == 0 && value(mf, "s3sftpd_sessions_total", nil) == 3
	})
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"s3sftpd_transfer_bytes_total", map[string]string{"direction": "in"}, size + 100},
		{"s3sftpd_transfer_bytes_total", map[string]string{"direction": "out"}, size},
		{"s3sftpd_transfers_total", map[string]string{"direction": "upload", "result": "ok"}, 2},
		{"s3sftpd_transfers_total", map[string]string{"direction": "upload", "result": "denied"}, 1},
		{"s3sftpd_transfers_total", map[string]string{"direction": "download", "result": "ok"}, 1},
		{"s3sftpd_auth_failures_total", map[string]string{"reason": "unknown user or key"}, 1},
		{"s3sftpd_upload_memory_bytes", nil, 0},
		{"s3sftpd_throttled_seconds_total", map[string]string{"reason": "upload_memory"}, -1}, // one upload, well within its share: never waited
		{"s3sftpd_s3_request_duration_seconds", map[string]string{"operation": "CreateMultipartUpload"}, 1},
		{"s3sftpd_s3_request_duration_seconds", map[string]string{"operation": "UploadPart"}, 2},
		{"s3sftpd_s3_request_duration_seconds", map[string]string{"operation": "CompleteMultipartUpload"}, 1},
		{"s3sftpd_bans_total", nil, -1}, // no ban yet: no series
	} {
		if got := value(mf, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(mf, "s3sftpd_s3_errors_total", map[string]string{"operation": "HeadObject", "code": "NotFound"}); got < 1 {
		t.Errorf("s3sftpd_s3_errors_total{HeadObject,NotFound} = %v; want at least 1 (the upload's existence check, the missing download)", got)
	}
	if got := value(mf, "s3sftpd_s3_request_duration_seconds", map[string]string{"operation": "GetObject"}); got < 1 {
		t.Errorf("no GetObject timed")
	}
	if _, body := get(t, "http://"+addr+"/metrics"); strings.Contains(body, "acme") || strings.Contains(body, s3srv.Bucket) || strings.Contains(body, "in.bin") {
		t.Errorf("/metrics names a user, bucket or file")
	}

	// With S3 down, the gateway is not ready (but alive).
	s3srv.Stop()
	var status int
	var body string
	waitFor(t, 10*time.Second, "/readyz to see S3 down (its answer is reused for readyFor)", func() bool {
		status, body = get(t, "http://"+addr+"/readyz")
		return status != 200
	})
	if status != http.StatusServiceUnavailable || strings.Contains(body, s3srv.Bucket) {
		t.Errorf("GET /readyz with S3 down: %d %q; want 503 naming no bucket", status, body)
	}
	if status, _ := get(t, "http://"+addr+"/healthz"); status != 200 {
		t.Errorf("GET /healthz with S3 down: %d; want 200", status)
	}
}

// readyFor is how long the server reuses a /readyz answer (readyFor in
// cmd/s3sftpd/admin.go; keep the two equal). A shorter value here only
// loosens the bound below.
const readyFor = 3 * time.Second

// TestE2E_ReadyzReusesItsAnswer: /readyz needs no login, so hammering it
// must not turn into S3 requests: 50 requests, 10 at a time, send one
// HeadBucket per bucket per readyFor, counted by the gateway's own S3
// request metric.
func TestE2E_ReadyzReusesItsAnswer(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{extra: "[admin]\nlisten = \"127.0.0.1:0\"\n"})
	addr := g.adminAddr(t)
	heads := func() float64 {
		return max(0, value(scrape(t, addr), "s3sftpd_s3_request_duration_seconds", map[string]string{"operation": "HeadBucket"}))
	}
	before := heads()
	began := time.Now()
	var wg sync.WaitGroup
	var notReady atomic.Int32
	for range 10 {
		wg.Go(func() {
			for range 5 {
				resp, err := http.Get("http://" + addr + "/readyz")
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					notReady.Add(1)
				}
			}
		})
	}
	wg.Wait()
	windows := 1 + int(time.Since(began)/readyFor)
	if n := notReady.Load(); n != 0 {
		t.Errorf("%d of 50 GET /readyz were not 200", n)
	}
	got := heads() - before
	t.Logf("50 GET /readyz in %v sent %v HeadBucket", time.Since(began).Round(time.Millisecond), got)
	if got < 1 || got > float64(windows) {
		t.Errorf("50 GET /readyz over %d reuse windows sent %v HeadBucket; want 1 to %d (one bucket)", windows, got, windows)
	}
}
