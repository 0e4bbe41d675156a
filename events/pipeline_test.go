package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// recorder is a Sink that keeps what it was given and fails while told to.
type recorder struct {
	name string

	mu     sync.Mutex
	got    []Event
	fail   int // refuse this many more attempts
	tries  int
	bodies [][]byte
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Deliver(_ context.Context, id, typ, user string, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if r.fail > 0 {
		r.fail--
		return errors.New("receiver down")
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID != id || e.Type != typ || e.User != user {
		return fmt.Errorf("body %s does not match id %s, type %s, user %s", body, id, typ, user)
	}
	r.got = append(r.got, e)
	r.bodies = append(r.bodies, body)
	return nil
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func waitEvents(t *testing.T, r *recorder, n int) []Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.events()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events; want %d: %+v", len(got), n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testPipeline starts a pipeline over trail with sinks, fast schedule.
func testPipeline(t *testing.T, trail string, sinks ...*recorder) *Pipeline {
	t.Helper()
	p := New(Config{Trail: trail, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Poll: 20 * time.Millisecond})
	var routes []*route
	for _, s := range sinks {
		routes = append(routes, &route{sink: s, wake: make(chan struct{}, 1)})
	}
	if err := p.start(routes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

func openTrail(t *testing.T, file string, rotate int64) *audit.Log {
	t.Helper()
	l, err := audit.Open(audit.Config{File: file, RotateSize: rotate})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func write(t *testing.T, l *audit.Log, recs ...audit.Record) {
	t.Helper()
	for _, r := range recs {
		var err error
		if r.Session != "" {
			s := l.Session(r.Session)
			r.Session = ""
			err = s.Record(r)
		} else {
			err = l.Write(r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func paths(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+" "+e.Path)
	}
	return out
}

// TestPipeline_ResumesFromCursor: a sink gets the events written after its
// first start; stopped and started again (a restart), it gets exactly those
// written since, across rotations, and they still name the session's key
// and address, which only records before the restart held.
func TestPipeline_ResumesFromCursor(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	l := openTrail(t, file, 4096)                                                               // a few records a segment
	write(t, l, audit.Record{Event: audit.EventServerStart, Result: audit.ResultOK}, recUpload) // before the sink existed
	sink := &recorder{name: "webhook https://hooks.example.org/x"}
	p := testPipeline(t, file, sink)
	write(t, l, recConnect, recAuth, recUpload, recDownload)
	got := waitEvents(t, sink, 2)
	p.Stop()
	for i := range 60 { // several segments while the sink is stopped
		r := recMkdir
		r.Path = fmt.Sprintf("/d%d", i)
		write(t, l, r)
	}
	write(t, l, recRemove, recDisc)
	segs, _ := segments(file)
	if len(segs) < 2 {
		t.Fatalf("got %d segments; want the trail rotated while the sink was stopped", len(segs))
	}
	sink2 := &recorder{name: sink.name}
	testPipeline(t, file, sink2)
	got2 := waitEvents(t, sink2, 61)
	time.Sleep(100 * time.Millisecond) // nothing more comes
	got2 = sink2.events()
	want := []string{"upload /in/a.csv", "download /a.csv"}
	if !slices.Equal(paths(got), want) {
		t.Errorf("before the restart got %v; want %v", paths(got), want)
	}
	if len(got2) != 61 || got2[0].Path != "/d0" || got2[59].Path != "/d59" || got2[60].Type != TypeDelete {
		t.Fatalf("after the restart got %v; want the 60 mkdirs and the delete, once each, in order", paths(got2))
	}
	if e := got2[60]; e.KeyFP != "SHA256:abc" || e.Remote != "127.0.0.1:50000" {
		t.Errorf("after the restart the delete names key %q from %q; want the session's SHA256:abc from 127.0.0.1:50000", e.KeyFP, e.Remote)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPipeline_RetriesUntilDelivered: a sink that refuses gets the same
// event (same id) again until it takes it, and the next ones after it, in
// order.
func TestPipeline_RetriesUntilDelivered(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	l := openTrail(t, file, 0)
	defer l.Close()
	sink := &recorder{name: "s", fail: 3}
	p := testPipeline(t, file, sink)
	write(t, l, recUpload, recRemove)
	got := waitEvents(t, sink, 2)
	if got[0].Type != TypeUpload || got[1].Type != TypeDelete {
		t.Errorf("got %v; want the upload, then the delete", paths(got))
	}
	if sink.tries != 5 {
		t.Errorf("got %d attempts; want 3 refused and 2 delivered", sink.tries)
	}
	st := p.Stats()[0]
	if st.Delivered != 2 || st.Failed != 3 || st.Backlog != 0 {
		t.Errorf("got stats %+v; want 2 delivered, 3 failed, no backlog", st)
	}
}

// TestPipeline_StatsWhileFailing: while the receiver refuses, the backlog
// counts the records behind the cursor and the lag the age of the event
// waiting.
func TestPipeline_StatsWhileFailing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	l := openTrail(t, file, 0)
	defer l.Close()
	sink := &recorder{name: "s", fail: 1 << 30}
	p := testPipeline(t, file, sink)
	write(t, l, recUpload, recList, recList)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := p.Stats()[0]
		if st.Failed >= 2 && st.Backlog == 3 && st.Lag > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got stats %+v; want failures, a backlog of 3 and a lag", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPipeline_Types(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	l := openTrail(t, file, 0)
	defer l.Close()
	sink := &recorder{name: "s"}
	p := New(Config{Trail: file, Poll: 20 * time.Millisecond})
	if err := p.start([]*route{{sink: sink, types: []string{TypeDelete}, wake: make(chan struct{}, 1)}}); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	write(t, l, recUpload, recDownload, recRemove, recMkdir, recRemove)
	got := waitEvents(t, sink, 2)
	if !slices.Equal(paths(got), []string{"delete /a.csv", "delete /a.csv"}) {
		t.Errorf("got %v; want the two deletes only", paths(got))
	}
}

// TestPipeline_LostSegmentsCounted: segments deleted before the sink read
// them are a reported loss, and delivery goes on after the gap.
func TestPipeline_LostSegmentsCounted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	l := openTrail(t, file, 4096)
	sink := &recorder{name: "s"}
	p := testPipeline(t, file, sink)
	p.Stop()
	for range 90 {
		write(t, l, recMkdir)
	}
	segs, _ := segments(file)
	if len(segs) < 3 {
		t.Fatalf("got %d segments; want 3 or more", len(segs))
	}
	for _, s := range segs[:2] {
		os.Remove(filepath.Join(filepath.Dir(file), s.name))
	}
	sink2 := &recorder{name: "s"}
	p2 := testPipeline(t, file, sink2)
	write(t, l, recRemove)
	deadline := time.Now().Add(10 * time.Second)
	for len(sink2.events()) == 0 || sink2.events()[len(sink2.events())-1].Type != TypeDelete {
		if time.Now().After(deadline) {
			t.Fatalf("got %v; want the mkdirs left and the delete", paths(sink2.events()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := p2.Stats()[0]; st.Lost == 0 {
		t.Errorf("got stats %+v; want the deleted records counted as lost", st)
	}
	l.Close()
}

func TestRetryDelay_Schedule(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 8; n++ {
		got = append(got, retryDelay(retryMin, retryMax, n))
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		30 * time.Second, 30 * time.Second, 30 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("got %v; want %v", got, want)
	}
	var total time.Duration
	for n := 1; n <= 4; n++ {
		total += retryDelay(retryMin, retryMax, n)
	}
	if total > time.Minute {
		t.Errorf("four failures delay the event %v; want it delivered within a minute", total)
	}
}

func TestCursorPath_Readable(t *testing.T) {
	got := filepath.Base(cursorPath("/var/lib/s3sftpd/audit/audit.jsonl", "webhook https://hooks.example.org/s3sftpd"))
	want := "audit.jsonl.events-webhook-https-hooks.example.org-s3sftpd-"
	if len(got) != len(want)+8+len(".cursor") || got[:len(want)] != want {
		t.Errorf("got %q; want %q, 8 hex digits and .cursor", got, want)
	}
}

// TestPipeline_WakesOnRecord: with audit's Observe hook calling Wake, an
// event goes out as soon as its record is written, long before the next
// poll (an hour here).
func TestPipeline_WakesOnRecord(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	sink := &recorder{name: "s"}
	p := New(Config{Trail: file, Poll: time.Hour})
	l, err := audit.Open(audit.Config{File: file, Observe: func(audit.Record) { p.Wake() }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	write(t, l, audit.Record{Event: audit.EventServerStart, Result: audit.ResultOK})
	if err := p.start([]*route{{sink: sink, wake: make(chan struct{}, 1)}}); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for i := range 5 {
		r := recMkdir
		r.Path = fmt.Sprintf("/d%d", i)
		write(t, l, r)
		waitEvents(t, sink, i+1)
	}
}

// TestPipeline_FollowsRotation: while the sink reads, the live file is
// rotated into segments again and again; every event arrives once, in
// order.
func TestPipeline_FollowsRotation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	l := openTrail(t, file, 4096)
	defer l.Close()
	sink := &recorder{name: "s"}
	testPipeline(t, file, sink)
	const n = 300
	for i := range n {
		r := recMkdir
		r.Path = fmt.Sprintf("/d%03d", i)
		write(t, l, r)
		if i%50 == 0 {
			time.Sleep(30 * time.Millisecond) // let the reader catch up, so rotations also happen under it
		}
	}
	got := waitEvents(t, sink, n)
	time.Sleep(100 * time.Millisecond)
	got = sink.events()
	if segs, _ := segments(file); len(segs) < 5 {
		t.Fatalf("got %d segments; want the trail rotated many times", len(segs))
	}
	if len(got) != n {
		t.Fatalf("got %d events; want %d, once each", len(got), n)
	}
	for i, e := range got {
		if want := fmt.Sprintf("/d%03d", i); e.Path != want {
			t.Fatalf("event %d is %s; want %s (in trail order)", i, e.Path, want)
		}
	}
}

// TestPipeline_FailingSinkLogsRarely: a sink refusing every attempt is
// logged once, not once per retry, and once more when it recovers.
func TestPipeline_FailingSinkLogsRarely(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	l := openTrail(t, file, 0)
	defer l.Close()
	var logs syncBuffer
	sink := &recorder{name: "s", fail: 30}
	p := New(Config{Trail: file, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, Poll: 20 * time.Millisecond})
	if err := p.start([]*route{{sink: sink, wake: make(chan struct{}, 1)}}); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	write(t, l, recUpload)
	waitEvents(t, sink, 1)
	if n := strings.Count(logs.String(), "sink failing"); n != 1 {
		t.Errorf("got %d failure lines for 30 failed attempts; want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "sink delivers again") || !strings.Contains(logs.String(), `"failed_attempts":30`) {
		t.Errorf("got no recovery line counting 30 failed attempts:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
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
