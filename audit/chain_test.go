package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
