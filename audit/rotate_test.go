package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a Now that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func decode(t *testing.T, line string) Record {
	t.Helper()
	var r Record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("not a record: %q: %v", line, err)
	}
	return r
}

func hashOf(line string) string {
	sum := sha256.Sum256([]byte(line))
	return hex.EncodeToString(sum[:])
}

// verifyDir verifies every *.jsonl file in dir, with the sidecar if any.
func verifyDir(t *testing.T, dir string) *Report {
	t.Helper()
	var in []VerifyInput
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jsonl") {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			in = append(in, VerifyInput{Name: e.Name(), R: bytes.NewReader(b)})
		}
	}
	var opts VerifyOptions
	if cp, err := os.ReadFile(filepath.Join(dir, "audit.jsonl.checkpoint")); err == nil {
		opts.Checkpoints = []Checkpoint{{Name: "audit.jsonl.checkpoint", Line: cp}}
	}
	rep, err := Verify(in, opts)
	if err != nil {
		t.Fatalf("Verify = %v; want nil", err)
	}
	return rep
}

func TestLog_RotatesBySizeAndAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	clk := &clock{t: fixedNow()}
	l, err := Open(Config{File: path, Now: clk.Now, RotateSize: 1000, RotateEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if err := l.Write(Record{Event: EventMkdir, Path: "/some/directory/name"}); err != nil {
			t.Fatal(err)
		}
	}
	first := filepath.Join(dir, "audit-000000000001.jsonl")
	seg := readLines(t, first)
	if st, err := os.Stat(first); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("first segment: %v; want it with mode 0600", err)
	}
	if r := decode(t, seg[len(seg)-1]); r.Event != EventSegmentEnd {
		t.Errorf("segment ends with %q; want segment_end", r.Event)
	}
	if size := len(strings.Join(seg, "\n")) + 1; size > 1000 {
		t.Errorf("segment holds %d bytes; want at most rotate_size 1000", size)
	}
	cur := readLines(t, path)
	// The live file may have rotated more than once; find the segment that precedes it.
	start := decode(t, cur[0])
	if start.Event != EventSegmentStart {
		t.Fatalf("live file starts with %q; want segment_start", start.Event)
	}
	prevSeg := readLines(t, filepath.Join(dir, lastSegment(t, path)))
	if start.Prev != hashOf(prevSeg[len(prevSeg)-1]) {
		t.Errorf("segment_start prev %s; want the hash of the segment_end before it", start.Prev)
	}
	// By age: an hour after the file was started, the timer rotates it.
	before := lastSegment(t, path)
	l.Write(Record{Event: EventMkdir, Path: "/d"})
	clk.Add(time.Hour)
	l.tick()
	if after := lastSegment(t, path); after == before {
		t.Errorf("no rotation an hour after the file was started (newest segment still %s)", after)
	}
	// An idle file holding only its segment_start does not rotate.
	after := lastSegment(t, path)
	clk.Add(2 * time.Hour)
	l.tick()
	if got := lastSegment(t, path); got != after {
		t.Errorf("an idle file rotated into %s", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verifyDir(t, dir)
	if rep.FirstSeq != 1 || rep.Files < 3 {
		t.Errorf("report %+v; want seq from 1 over 3 or more files", rep)
	}
}

func lastSegment(t *testing.T, path string) string {
	t.Helper()
	segs, err := listSegments(path)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments of %s: %v, %v; want some", path, segs, err)
	}
	return segs[len(segs)-1]
}

func TestLog_RestartAfterRotationChainsToTheNewestSegment(t *testing.T) {
	for _, current := range []string{"missing", "empty"} {
		t.Run(current, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.jsonl")
			ship := &recordingShipper{}
			l, err := Open(Config{File: path, Now: fixedNow, Ship: ship})
			if err != nil {
				t.Fatal(err)
			}
			l.Write(Record{Event: EventServerStart})
			l.Write(Record{Event: EventServerStop})
			if err := l.Close(); err != nil { // rotates the live file away
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("live file after Close with a shipper: %v; want it rotated away", err)
			}
			if current == "empty" {
				os.WriteFile(path, nil, 0o600)
			}
			seg := readLines(t, filepath.Join(dir, "audit-000000000001.jsonl"))
			l, err = Open(Config{File: path, Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			l.Write(Record{Event: EventServerStart})
			l.Close()
			r := decode(t, readLines(t, path)[0])
			if r.Seq != 4 || r.Prev != hashOf(seg[len(seg)-1]) {
				t.Errorf("first record after restart: seq %d prev %s; want 4 chained to the segment_end", r.Seq, r.Prev)
			}
			verifyDir(t, dir)
		})
	}
}

func TestLog_Checkpoints(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	clk := &clock{t: fixedNow()}
	l, err := Open(Config{File: path, Now: clk.Now, CheckpointEvery: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Record{Event: EventMkdir, Path: "/a"})
	l.tick()
	if _, err := os.Stat(path + ".checkpoint"); !os.IsNotExist(err) {
		t.Errorf("checkpoint before checkpoint_every passed: %v", err)
	}
	clk.Add(time.Minute)
	l.tick()
	lines := readLines(t, path)
	last := lines[len(lines)-1]
	if r := decode(t, last); r.Event != EventCheckpoint || r.Seq != 2 {
		t.Fatalf("last record %s; want a checkpoint with seq 2", last)
	}
	sidecar, err := os.ReadFile(path + ".checkpoint")
	if err != nil || string(sidecar) != last+"\n" {
		t.Fatalf("sidecar = %q, %v; want the checkpoint line", sidecar, err)
	}
	if st, _ := os.Stat(path + ".checkpoint"); st.Mode().Perm() != 0o600 {
		t.Errorf("sidecar mode %v; want 0600", st.Mode().Perm())
	}
	// Nothing written since: no new checkpoint.
	clk.Add(time.Minute)
	l.tick()
	if n := len(readLines(t, path)); n != 2 {
		t.Errorf("%d lines after an idle minute; want 2", n)
	}
	// Close makes the last record the checkpoint, without writing one.
	l.Write(Record{Event: EventServerStop})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines = readLines(t, path)
	if sidecar, _ := os.ReadFile(path + ".checkpoint"); len(lines) != 3 || string(sidecar) != lines[2]+"\n" {
		t.Errorf("after Close: %d lines, sidecar %q; want 3 lines and the last as the sidecar", len(lines), sidecar)
	}
	if rep := verifyDir(t, dir); rep.CheckpointSeq != 3 {
		t.Errorf("checkpoint seq %d found; want 3", rep.CheckpointSeq)
	}
}

func TestLog_CheckpointTimerRunsUntilClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(Config{File: path, CheckpointEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Record{Event: EventMkdir, Path: "/a"})
	deadline := time.Now().Add(5 * time.Second)
	for len(readLines(t, path)) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 || decode(t, lines[1]).Event != EventCheckpoint {
		t.Errorf("lines %q; want the record and one checkpoint from the timer", lines)
	}
	if err := l.Write(Record{Event: EventMkdir}); err == nil {
		t.Errorf("Write after Close = nil; want an error")
	}
}
