// Package metrics owns s3sftpd's Prometheus metrics and the admin listener
// that serves them with /healthz and /readyz.
//
// It learns what happens without reaching into the packages that do it:
// sessions, logins and transfers from the audit records as they are
// written (audit.Config.Observe), S3 requests from a middleware on the SDK
// client (s3fs.Config.APIOptions), upload memory by asking s3fs. Labels are
// bounded sets (operation, error code, reason, result): never a user, path
// or bucket name, so a scrape reveals no PHI.
package metrics

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3sftpd/s3sftpd/audit"
)

// Metrics is the process's one set of metrics. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	sessions      prometheus.Gauge
	sessionsTotal prometheus.Counter
	authFailures  *prometheus.CounterVec // reason
	bytes         *prometheus.CounterVec // direction
	transfers     *prometheus.CounterVec // direction, result
	s3Duration    *prometheus.HistogramVec
	s3Errors      *prometheus.CounterVec // operation, code
	bans          *prometheus.CounterVec // reason
	throttled     *prometheus.CounterVec // reason

	mu   sync.Mutex
	open map[string]bool // session ids of logged-in sessions not yet disconnected
}

// New registers every metric, plus the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "s3sftpd_sessions",
			Help: "Logged-in SSH sessions now open."}),
		sessionsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "s3sftpd_sessions_total",
			Help: "Successful logins."}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s3sftpd_auth_failures_total",
			Help: "Refused authentication attempts, by reason."}, []string{"reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s3sftpd_transfer_bytes_total",
			Help: "File bytes received from clients (in) and sent to them (out), counted when a transfer ends."}, []string{"direction"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s3sftpd_transfers_total",
			Help: "Ended or refused file transfers, by direction (upload, download) and result (ok, aborted, error, denied)."},
			[]string{"direction", "result"}),
		s3Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "s3sftpd_s3_request_duration_seconds",
			Help:    "Duration of S3 API calls, retries included, by operation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"operation"}),
		s3Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s3sftpd_s3_errors_total",
			Help: "S3 API calls that failed after retries, by operation and S3 error code (or canceled, transport)."},
			[]string{"operation", "code"}),
		bans: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s3sftpd_bans_total",
			Help: "Client addresses banned by the brute-force defence."}, []string{"reason"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s3sftpd_throttled_seconds_total",
			Help: "Time transfers were held back by a fair-sharing limit, by reason (upload_bandwidth, download_bandwidth: waits for a user's cap; upload_memory: writes waiting for upload memory; session_memory: new sessions waiting for room under the memory limit; read_ahead_memory: reads served without read-ahead)."},
			[]string{"reason"}),
		open: map[string]bool{},
	}
	m.reg.MustRegister(m.sessions, m.sessionsTotal, m.authFailures, m.bytes, m.transfers, m.s3Duration, m.s3Errors, m.bans, m.throttled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchUploadMemory exports f, the bytes of upload buffers in use, as a
// gauge read at each scrape.
func (m *Metrics) WatchUploadMemory(f func() int64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3sftpd_upload_memory_bytes",
		Help: "Bytes of the upload memory budget reserved by part buffers now."}, func() float64 { return float64(f()) }))
}

// WatchReadAheadMemory exports f, the bytes of download read-ahead held, as
// a gauge read at each scrape.
func (m *Metrics) WatchReadAheadMemory(f func() int64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3sftpd_read_ahead_memory_bytes",
		Help: "Bytes of the download read-ahead budget held by blocks now."}, func() float64 { return float64(f()) }))
}

// WatchSessionMemory exports f, the bytes of the room for sessions that open
// sessions hold, as a gauge read at each scrape.
func (m *Metrics) WatchSessionMemory(f func() int64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3sftpd_session_memory_bytes",
		Help: "Bytes of the room for sessions under the memory limit held by open SFTP sessions now (4 MiB each)."}, func() float64 { return float64(f()) }))
}

// Budgets exports how the memory limit splits (budget → bytes), so a
// dashboard sets what is in use against it.
func (m *Metrics) Budgets(b map[string]int64) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "s3sftpd_memory_budget_bytes",
		Help: "How the memory limit splits: limit, go_soft_limit, and the budgets uploads, read_ahead, sessions, base, runtime."}, []string{"budget"})
	for k, v := range b {
		g.WithLabelValues(k).Set(float64(v))
	}
	m.reg.MustRegister(g)
}

// WatchExpiringKeys exports f, the listed keys whose expiry-time comes
// within 14 days, as a gauge read at each scrape (so a reload counts at
// once). It names no user or key.
func (m *Metrics) WatchExpiringKeys(f func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3sftpd_keys_expiring",
		Help: "Listed user keys whose expiry-time comes within the next 14 days (expired keys not counted)."}, func() float64 { return float64(f()) }))
}

// Throttled counts d as time lost to a limit. It is the hook of s3fs and
// sftpd (Config.Throttled, Server.Throttled); reason must come from their
// small fixed sets, never name a user.
func (m *Metrics) Throttled(reason string, d time.Duration) {
	m.throttled.WithLabelValues(reason).Add(d.Seconds())
}

// Ban counts one ban. It is the hook for the brute-force defence; reason
// must come from a small fixed set.
func (m *Metrics) Ban(reason string) { m.bans.WithLabelValues(reason).Inc() }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Observe counts what an audit record says happened. It is
// audit.Config.Observe.
func (m *Metrics) Observe(r audit.Record) {
	switch r.Event {
	case audit.EventAuth:
		if r.Result == audit.ResultOK {
			m.sessionsTotal.Inc()
			m.mu.Lock()
			if !m.open[r.Session] {
				m.open[r.Session] = true
				m.sessions.Inc()
			}
			m.mu.Unlock()
		} else {
			m.authFailures.WithLabelValues(authReason(r.Reason)).Inc()
		}
	case audit.EventDisconnect:
		m.mu.Lock()
		if m.open[r.Session] {
			delete(m.open, r.Session)
			m.sessions.Dec()
		}
		m.mu.Unlock()
	case audit.EventOpen:
		if r.Result != audit.ResultOK { // a refused open is a transfer that never started
			m.transfers.WithLabelValues(direction(r.Mode), r.Result).Inc()
		}
	case audit.EventClose:
		m.transfers.WithLabelValues(direction(r.Mode), r.Result).Inc()
		if r.Bytes != nil {
			dir := "out"
			if r.Mode == "write" {
				dir = "in"
			}
			m.bytes.WithLabelValues(dir).Add(float64(*r.Bytes))
		}
	case audit.EventBan:
		m.Ban(banReason(r.Reason))
	}
}

// authReason is the fixed part of an auth failure's reason: the words
// before a colon ("key restricted: key expired at …" → "key restricted"),
// so the label set stays small and names no address or time.
func authReason(reason string) string {
	if i := strings.IndexByte(reason, ':'); i >= 0 {
		reason = reason[:i]
	}
	if len(reason) > 64 {
		reason = reason[:64]
	}
	return reason
}

// banReason turns the defender's reason, which names the user and counts,
// into a label from a fixed set.
func banReason(reason string) string {
	if strings.Contains(reason, "for user") {
		return "user_failures"
	}
	return "ip_failures"
}

func direction(mode string) string {
	if mode == "write" {
		return "upload"
	}
	return "download"
}
