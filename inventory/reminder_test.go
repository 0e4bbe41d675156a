package inventory_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/inventory"
	"github.com/s3sftpd/s3sftpd/metrics"
)

// syncBuffer is a log sink safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// take returns the warnings logged since the last take, as user/key_fp.
func (s *syncBuffer) take(t *testing.T) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var r struct {
			Level, Msg, User string
			KeyFP            string `json:"key_fp"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r.Level != "WARN" || !strings.HasPrefix(r.Msg, "key expires soon") {
			t.Errorf("log line %q; want only key expiry warnings", line)
		}
		out = append(out, r.User+" "+r.KeyFP)
	}
	s.b.Reset()
	return out
}

func edKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// scrapeExpiring reads s3sftpd_keys_expiring from the admin listener.
func scrapeExpiring(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "s3sftpd_keys_expiring "); ok {
			return v
		}
	}
	t.Fatalf("no s3sftpd_keys_expiring in the scrape:\n%s", body)
	return ""
}

// TestReminder_DailyWarningAndMetric: with the clock moved by hand, a key
// expiring within 14 days is warned of once a day however often the
// reminder checks, the gauge served by the admin listener counts it, and a
// reload that removes it stops both while a reload that adds one is warned
// of at the next check.
func TestReminder_DailyWarningAndMetric(t *testing.T) {
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clock := start
	soon, later, fresh := edKey(t), edKey(t), edKey(t)
	fpSoon, fpFresh := auth.Fingerprint(soon), auth.Fingerprint(fresh)
	mapOf := func(keys []ssh.PublicKey, opts []auth.KeyOptions) *auth.Users {
		u, err := auth.NewUsers([]auth.User{{Name: "acme", Bucket: "b", Home: "acme/", Perms: auth.AllPerms, Keys: keys, KeyOptions: opts}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	live := auth.NewLive(mapOf([]ssh.PublicKey{soon, later}, []auth.KeyOptions{
		{Expiry: start.Add(3 * 24 * time.Hour)}, // within 14 days
		{Expiry: start.Add(30 * 24 * time.Hour)},
	}))
	var logs syncBuffer
	r := &inventory.Reminder{Users: live.Users, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Now: func() time.Time { return clock }}
	m := metrics.New()
	m.WatchExpiringKeys(r.Count)
	admin := httptest.NewServer(metrics.AdminHandler(m, func(context.Context) error { return nil }, slog.New(slog.DiscardHandler)))
	defer admin.Close()

	step := func(name string, advance time.Duration, wantWarned []string, wantCount string) {
		t.Helper()
		clock = clock.Add(advance)
		r.Check()
		if got := logs.take(t); strings.Join(got, ",") != strings.Join(wantWarned, ",") {
			t.Errorf("%s: warnings %q; want %q", name, got, wantWarned)
		}
		if got := scrapeExpiring(t, admin.URL); got != wantCount {
			t.Errorf("%s: s3sftpd_keys_expiring = %s; want %s", name, got, wantCount)
		}
	}
	step("first-check", 0, []string{"acme " + fpSoon}, "1")
	for range 23 {
		step("hourly-check-same-day", time.Hour, nil, "1")
	}
	step("a-day-later", time.Hour, []string{"acme " + fpSoon}, "1")
	step("same-day-again", time.Hour, nil, "1")

	// a reload: the expiring key is gone, a fresh one expiring in 2 days arrives
	live.Swap(mapOf([]ssh.PublicKey{later, fresh}, []auth.KeyOptions{{Expiry: start.Add(30 * 24 * time.Hour)}, {Expiry: clock.Add(2 * 24 * time.Hour)}}))
	if got := scrapeExpiring(t, admin.URL); got != "1" {
		t.Errorf("after the reload, before a check: s3sftpd_keys_expiring = %s; want 1 (the scrape counts the map in force)", got)
	}
	step("after-reload", time.Minute, []string{"acme " + fpFresh}, "1")
	step("removed-key-silent", 24*time.Hour, []string{"acme " + fpFresh}, "1")
	step("expired-not-counted", 24*time.Hour, nil, "0")

	// the 30-day key comes within 14 days
	step("later-key-in-window", 14*24*time.Hour, []string{"acme " + auth.Fingerprint(later)}, "1")
}
