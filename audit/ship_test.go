package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// recordingShipper keeps what it is given, and fails while failing is set.
type recordingShipper struct {
	mu      sync.Mutex
	failing bool
	tries   int
	names   []string
	data    map[string][]byte
}

func (s *recordingShipper) Ship(ctx context.Context, name string, seg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.failing {
		return errors.New("bucket unreachable")
	}
	if s.data == nil {
		s.data = map[string][]byte{}
	}
	if _, ok := s.data[name]; !ok {
		s.names = append(s.names, name)
	}
	s.data[name] = slices.Clone(seg)
	return nil
}

func (s *recordingShipper) set(failing bool) { s.mu.Lock(); s.failing = failing; s.mu.Unlock() }
func (s *recordingShipper) shipped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.names)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLog_ShipFailureDeniesUntilARetrySucceeds(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "audit.jsonl")
		ship := &recordingShipper{failing: true}
		l, err := Open(Config{File: path, Now: fixedNow, RotateSize: 400, Ship: ship, FailOpen: failOpen, shipRetry: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for range 4 {
			if err := l.Write(Record{Event: EventMkdir, Path: "/a/directory"}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "failed ship attempts", func() bool { ship.mu.Lock(); defer ship.mu.Unlock(); return ship.tries >= 2 })
		if failOpen {
			if err := l.Err(); err != nil {
				t.Errorf("continue policy: Err = %v while shipping fails; want nil", err)
			}
		} else if err := l.Err(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Err = %v while a segment waits after a failed ship; want ErrUnavailable", err)
		}
		ship.set(false)
		waitFor(t, "Err to clear", func() bool { return l.Err() == nil })
		waitFor(t, "the segments to ship", func() bool { s, _ := unshipped(path); return len(s) == 0 })
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		segs, _ := listSegments(path)
		if got := ship.shipped(); !slices.Equal(got, segs) {
			t.Errorf("shipped %v; want every segment in order, %v", got, segs)
		}
		for _, name := range segs {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			if string(ship.data[name]) != string(b) {
				t.Errorf("shipped %s differs from the segment on disk", name)
			}
		}
		state, _ := os.ReadFile(path + ".shipped")
		if want := segs[len(segs)-1] + "\n"; string(state) != want {
			t.Errorf("ship state %q; want %q", state, want)
		}
	}
}

func TestLog_RestartShipsOnlyWhatIsLeft(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	// A first run without a shipper leaves three segments.
	l, err := Open(Config{File: path, Now: fixedNow, RotateSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		l.Write(Record{Event: EventMkdir, Path: "/a/directory"})
	}
	l.Close()
	segs, _ := listSegments(path)
	if len(segs) < 3 {
		t.Fatalf("segments %v; want 3 or more", segs)
	}
	os.WriteFile(path+".shipped", []byte(segs[1]+"\n"), 0o600)
	ship := &recordingShipper{}
	l, err = Open(Config{File: path, Now: fixedNow, Ship: ship})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	all, _ := listSegments(path)
	if got, want := ship.shipped(), all[2:]; !slices.Equal(got, want) {
		t.Errorf("shipped %v; want only the segments after %s: %v", got, segs[1], want)
	}
}

// TestLog_CloseSaysWhenOnlyShippingFailed: a short-lived writer closes to
// rotate and ship at once; when the store refuses, Close says so with
// ErrNotShipped, the record sits whole in a closed segment, and the next
// Close ships that backlog before its own segment, the chain unbroken.
func TestLog_CloseSaysWhenOnlyShippingFailed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "presign.jsonl")
	ship := &recordingShipper{failing: true}
	l, err := Open(Config{File: path, Now: fixedNow, Ship: ship})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(Record{Event: EventPresign, Path: "/a.bin"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); !errors.Is(err, ErrNotShipped) {
		t.Fatalf("Close with a failing shipper = %v; want ErrNotShipped", err)
	}
	if segs, _ := unshipped(path); !slices.Equal(segs, []string{"presign-000000000001.jsonl"}) {
		t.Fatalf("unshipped segments %v; want the one Close rotated", segs)
	}

	ship.set(false)
	l, err = Open(Config{File: path, Now: fixedNow, Ship: ship})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(Record{Event: EventPresign, Path: "/b.bin"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close once the store takes segments again = %v; want nil", err)
	}
	want := []string{"presign-000000000001.jsonl", "presign-000000000003.jsonl"}
	if got := ship.shipped(); !slices.Equal(got, want) {
		t.Errorf("shipped %v; want the backlog, then the new segment: %v", got, want)
	}
	// Verify what the store holds, not the local copies.
	var in []VerifyInput
	for _, name := range want {
		in = append(in, VerifyInput{Name: name, R: bytes.NewReader(ship.data[name])})
	}
	rep, err := Verify(in, VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify the shipped segments = %v; want nil", err)
	}
	if rep.Records != 4 {
		t.Errorf("shipped segments hold %d records; want 4 (two presigns, two segment_ends)", rep.Records)
	}
}
