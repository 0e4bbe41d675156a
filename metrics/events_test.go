package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/events"
)

func TestWatchEvents(t *testing.T) {
	m := New()
	m.WatchEvents(func() []events.Stats {
		return []events.Stats{{Sink: "webhook https://hooks.example.org/x", Backlog: 7, Lag: 90 * time.Second, Delivered: 3, Failed: 2, Lost: 1}}
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`s3sftpd_events_backlog_records{sink="webhook https://hooks.example.org/x"} 7`,
		`s3sftpd_events_lag_seconds{sink="webhook https://hooks.example.org/x"} 90`,
		`s3sftpd_events_delivered_total{sink="webhook https://hooks.example.org/x"} 3`,
		`s3sftpd_events_failed_attempts_total{sink="webhook https://hooks.example.org/x"} 2`,
		`s3sftpd_events_lost_records_total{sink="webhook https://hooks.example.org/x"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
}
