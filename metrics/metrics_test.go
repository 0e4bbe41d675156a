package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/s3sftpd/s3sftpd/audit"
)

func TestObserve_Sessions(t *testing.T) {
	m := New()
	for _, r := range []audit.Record{
		{Event: audit.EventAuth, Session: "a", Result: audit.ResultDenied, Reason: "unknown user or key"},
		{Event: audit.EventAuth, Session: "a", Result: audit.ResultDenied, Reason: "key restricted: key expired at 2026-01-01T00:00:00Z"},
		{Event: audit.EventAuth, Session: "a", Result: audit.ResultOK},
		{Event: audit.EventAuth, Session: "b", Result: audit.ResultOK},
		{Event: audit.EventDisconnect, Session: "a"},
		{Event: audit.EventDisconnect, Session: "a"}, // counted once
		{Event: audit.EventDisconnect, Session: "c"}, // never logged in
	} {
		m.Observe(r)
	}
	if got := testutil.ToFloat64(m.sessions); got != 1 {
		t.Errorf("sessions = %v; want 1", got)
	}
	if got := testutil.ToFloat64(m.sessionsTotal); got != 2 {
		t.Errorf("sessions_total = %v; want 2", got)
	}
	if got := testutil.ToFloat64(m.authFailures.WithLabelValues("unknown user or key")); got != 1 {
		t.Errorf("auth failures = %v; want 1", got)
	}
	if got := testutil.ToFloat64(m.authFailures.WithLabelValues("key restricted")); got != 1 {
		t.Errorf("auth failures {key restricted} = %v; want 1 (the detail cut off)", got)
	}
}

func TestBan(t *testing.T) {
	m := New()
	m.Ban("ip_failures")
	m.Observe(audit.Record{Event: audit.EventBan, Reason: "10 failed logins within 10m0s"})
	m.Observe(audit.Record{Event: audit.EventBan, Reason: `failed login for user "acme", which had 50 failed logins within 10m0s`})
	if got := testutil.ToFloat64(m.bans.WithLabelValues("ip_failures")); got != 2 {
		t.Errorf("ip bans = %v; want 2", got)
	}
	if got := testutil.ToFloat64(m.bans.WithLabelValues("user_failures")); got != 1 {
		t.Errorf("user bans = %v; want 1", got)
	}
}

func TestThrottled(t *testing.T) {
	m := New()
	m.Throttled("download_bandwidth", 1500*time.Millisecond)
	m.Throttled("download_bandwidth", 500*time.Millisecond)
	m.Throttled("read_ahead_memory", 250*time.Millisecond)
	if got := testutil.ToFloat64(m.throttled.WithLabelValues("download_bandwidth")); got != 2 {
		t.Errorf("throttled{download_bandwidth} = %v; want 2", got)
	}
	if got := testutil.ToFloat64(m.throttled.WithLabelValues("read_ahead_memory")); got != 0.25 {
		t.Errorf("throttled{read_ahead_memory} = %v; want 0.25", got)
	}
}
