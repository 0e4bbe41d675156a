package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func fixedNow() time.Time { return time.Date(2026, 11, 24, 16, 15, 0, 123e6, time.UTC) }

// lines writes records through a Log into a buffer and returns the lines.
func lines(t *testing.T, cfg Config, recs ...Record) []string {
	t.Helper()
	var buf bytes.Buffer
	cfg.Stdout, cfg.Now = &buf, fixedNow
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := l.Session("c0ffee").WithUser("acme")
	for _, r := range recs {
		if err := s.Record(r); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func TestLog_ChainsEveryLineToThePrevious(t *testing.T) {
	got := lines(t, Config{},
		Record{Event: EventOpen, Mode: "write", Path: "/a.csv"},
		Record{Event: EventClose, Mode: "write", Path: "/a.csv", Bytes: Int(0), Result: ResultOK})
	prev := strings.Repeat("0", 64)
	for i, line := range got {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if r.Prev != prev {
			t.Errorf("line %d prev = %s; want %s", i+1, r.Prev, prev)
		}
		if r.Seq != uint64(i+1) || r.Session != "c0ffee" || r.User != "acme" {
			t.Errorf("line %d: seq %d session %q user %q; want %d c0ffee acme", i+1, r.Seq, r.Session, r.User, i+1)
		}
		sum := sha256.Sum256([]byte(line))
		prev = hex.EncodeToString(sum[:])
	}
	if !strings.Contains(got[0], `"time":"2026-11-24T16:15:00.123Z"`) {
		t.Errorf("time not RFC 3339 UTC with ms: %s", got[0])
	}
	if !strings.Contains(got[1], `"bytes":0`) {
		t.Errorf("an empty file's size is missing: %s", got[1])
	}
}

func TestLog_MACCoversTheLine(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	line := lines(t, Config{HMACKey: key}, Record{Event: EventRemove, Path: "/x"})[0]
	i := strings.LastIndex(line, `,"mac":"`)
	if i < 0 || !strings.HasSuffix(line, `"}`) {
		t.Fatalf("no trailing mac field: %s", line)
	}
	body := line[:i] + "}"
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	if want := hex.EncodeToString(m.Sum(nil)); line[i+8:len(line)-2] != want {
		t.Errorf("mac = %s; want HMAC-SHA256 of the line without it, %s", line[i+8:len(line)-2], want)
	}
}

func TestLog_HashedPathsRevealNoName(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	r := Record{Event: EventRename, Path: "/Smith_John_MRN1234.csv", Target: "/done/Smith_John_MRN1234.csv",
		Key: "partners/acme/Smith_John_MRN1234.csv", TargetKey: "partners/acme/done/Smith_John_MRN1234.csv"}
	got := lines(t, Config{HMACKey: key, HashPaths: true}, r, Record{Event: EventRemove, Path: r.Path})
	if strings.Contains(strings.Join(got, "\n"), "Smith") {
		t.Fatalf("a hashed trail names the file:\n%s", strings.Join(got, "\n"))
	}
	var a, b Record
	json.Unmarshal([]byte(got[0]), &a)
	json.Unmarshal([]byte(got[1]), &b)
	if !strings.HasPrefix(a.Path, "hmac:") || a.Path != b.Path {
		t.Errorf("paths %q and %q; want the same keyed hash, so records still correlate", a.Path, b.Path)
	}
	if a.Path == a.Target || a.Key == a.TargetKey {
		t.Errorf("different names hashed alike: %+v", a)
	}
	if _, err := Open(Config{HashPaths: true}); err == nil {
		t.Errorf("Open with hashed paths and no key = nil; want an error")
	}
}

// flakyWriter fails while broken is set.
type flakyWriter struct{ broken atomic.Bool }

func (w *flakyWriter) Write(p []byte) (int, error) {
	if w.broken.Load() {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestLog_FailureDeniesUntilRecovery(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		w := &flakyWriter{}
		l, err := Open(Config{Stdout: w, FailOpen: failOpen})
		if err != nil {
			t.Fatal(err)
		}
		s := l.Session("s")
		w.broken.Store(true)
		recErr := s.Record(Record{Event: EventMkdir, Path: "/d"})
		if failOpen {
			if recErr != nil || s.Check() != nil {
				t.Errorf("continue: Record = %v, Check = %v; want both nil", recErr, s.Check())
			}
			continue
		}
		if !errors.Is(recErr, ErrUnavailable) || !errors.Is(s.Check(), ErrUnavailable) {
			t.Errorf("deny: Record = %v, Check = %v; want ErrUnavailable", recErr, s.Check())
		}
		w.broken.Store(false)
		if err := s.Record(Record{Event: EventMkdir, Path: "/d"}); err != nil || s.Check() != nil {
			t.Errorf("after recovery: Record = %v, Check = %v; want nil", err, s.Check())
		}
	}
	var nilSession *Session
	if nilSession.Record(Record{Event: EventMkdir}) != nil || nilSession.Check() != nil {
		t.Errorf("a nil Session must record nothing and refuse nothing")
	}
}

func TestLog_FileIsOwnerOnlyAndRestartContinuesTheChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit", "audit.jsonl")
	write := func(events ...string) {
		t.Helper()
		l, err := Open(Config{File: path, Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if err := l.Write(Record{Event: e}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(EventServerStart, EventServerStop)
	write(EventServerStart)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(path)
	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(got) != 3 {
		t.Fatalf("%d lines; want 3:\n%s", len(got), data)
	}
	var third Record
	json.Unmarshal([]byte(got[2]), &third)
	sum := sha256.Sum256([]byte(got[1]))
	if third.Seq != 3 || third.Prev != hex.EncodeToString(sum[:]) {
		t.Errorf("after a restart: seq %d prev %s; want 3 and the hash of line 2", third.Seq, third.Prev)
	}

	// A crash mid-write leaves a torn line: the next record chains to the
	// last complete one, so the torn line shows up as a break.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-11-24T16:15:00.123Z","seq":4,"ev`)
	f.Close()
	write(EventServerStart)
	data, _ = os.ReadFile(path)
	last := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var fourth Record
	if err := json.Unmarshal([]byte(last[len(last)-1]), &fourth); err != nil || len(last) != 5 {
		t.Fatalf("%d lines, last %q (%v); want the torn line ended and a 5th, whole record", len(last), last[len(last)-1], err)
	}
	sum = sha256.Sum256([]byte(got[2]))
	if fourth.Seq != 4 || fourth.Prev != hex.EncodeToString(sum[:]) {
		t.Errorf("after a torn line: seq %d prev %s; want 4 chained to line 3", fourth.Seq, fourth.Prev)
	}
}

// TestLog_FileFailureDelaysButKeepsRecords: while the audit file cannot be
// written, the policy denies; once it can, the records it missed are
// written first, in order, and the trail verifies whole.
func TestLog_FileFailureDelaysButKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	l, err := Open(Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(Record{Event: EventServerStart}); err != nil {
		t.Fatal(err)
	}
	good := l.file
	broken, err := os.Open(path) // read-only: every write fails
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.file = broken
	l.mu.Unlock()
	s := l.Session("s")
	if err := s.Record(Record{Event: EventClose, Path: "/committed.csv"}); !errors.Is(err, ErrUnavailable) || s.Check() == nil {
		t.Errorf("Record on a failing file = %v, Check = %v; want ErrUnavailable", err, s.Check())
	}
	l.mu.Lock()
	l.file = good
	l.mu.Unlock()
	broken.Close()
	if err := s.Record(Record{Event: EventMkdir, Path: "/d"}); err != nil || s.Check() != nil {
		t.Errorf("after recovery: Record = %v, Check = %v; want nil", err, s.Check())
	}
	l.Close()
	lines := readLines(t, path)
	var events []string
	for _, line := range lines {
		events = append(events, decode(t, line).Event)
	}
	if got := strings.Join(events, " "); got != "server_start close mkdir" {
		t.Errorf("events in the file: %s; want server_start close mkdir", got)
	}
	verifyDir(t, dir)
}
