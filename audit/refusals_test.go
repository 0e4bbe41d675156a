package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSession_RateLimitsDeniedRecords: past the burst, denied records are
// counted, not written; the count comes before the next one written and
// before the disconnect. Other records are never held back.
func TestSession_RateLimitsDeniedRecords(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	now := fixedNow()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	observed := 0
	l, err := Open(Config{Stdout: &buf, Now: clock, Observe: func(r Record) {
		if r.Event == EventRefused {
			observed++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Session("c0ffee").WithUser("acme")
	refuse := func(n int) {
		for range n {
			if err := s.Record(Record{Event: EventRefused, Op: "stat", Path: "/x", Result: ResultDenied, Reason: "jail"}); err != nil {
				t.Fatalf("Record: %v", err)
			}
		}
	}
	refuse(1000)
	s.Record(Record{Event: EventOpen, Mode: "write", Path: "/ok.csv", Result: ResultOK})
	advance(5 * time.Second) // five more tokens
	refuse(10)
	s.Record(Record{Event: EventDisconnect, Result: ResultOK})

	var got []string // runs of events: "refused x100", and the count of each unrecorded record
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Event == EventUnrecorded {
			if r.Count == nil || r.Session != "c0ffee" || r.User != "acme" {
				t.Fatalf("unrecorded record %+v; want a count, the session and the user", r)
			}
			got = append(got, fmt.Sprintf("unrecorded %d", *r.Count))
			continue
		}
		var n int
		if last := len(got) - 1; last >= 0 {
			if _, err := fmt.Sscanf(got[last], r.Event+" x%d", &n); err == nil {
				got = got[:last]
			}
		}
		got = append(got, fmt.Sprintf("%s x%d", r.Event, n+1))
	}
	want := []string{"refused x100", "open x1", "unrecorded 900", "refused x5", "unrecorded 5", "disconnect x1"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("trail: %s; want %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	if observed != 1010 {
		t.Errorf("Observe saw %d refusals; want all 1010, written or not", observed)
	}
}
