// Package audit owns the audit trail: typed records as JSON lines, each
// chained to the one before by a SHA-256 hash (and a keyed MAC when a key is
// configured), written to the configured sinks, and checked by Verify. It is
// data for compliance, not operational logging: it never writes secrets, and
// with HashPaths it never writes a file name either.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrUnavailable is the error a denied operation gets while the audit trail
// cannot be written (on_failure = "deny").
var ErrUnavailable = errors.New("audit log unavailable")

// Config says where records go and how they are protected.
type Config struct {
	File      string    // append every line to this file (mode 0600), continuing its chain; "" = off
	Stdout    io.Writer // also write every line here; nil = off
	HMACKey   []byte    // keys the MAC over each line, and the path hashes; nil = no MAC
	HashPaths bool      // replace paths and object keys by keyed hashes (needs HMACKey)
	FailOpen  bool      // on_failure = "continue": a sink failure is logged, nothing is refused
	Logger    *slog.Logger
	Now       func() time.Time // tests; nil = time.Now
}

// Log is the process's one audit trail. All methods are safe for concurrent use.
type Log struct {
	cfg Config

	mu     sync.Mutex
	seq    uint64
	prev   [sha256.Size]byte
	sinks  []io.Writer
	file   *os.File // the File sink, closed by Close
	failed error    // the last sink failure, nil once a write succeeded again
}

// Close flushes the audit file to disk and closes it.
func (l *Log) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.file.Sync()
	if cerr := l.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open starts the audit trail.
func Open(cfg Config) (*Log, error) {
	if cfg.HashPaths && len(cfg.HMACKey) == 0 {
		return nil, errors.New("audit: hashed paths need an HMAC key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{cfg: cfg}
	if cfg.File != "" {
		f, prev, seq, err := openFile(cfg.File)
		if err != nil {
			return nil, err
		}
		l.file, l.prev, l.seq = f, prev, seq
		l.sinks = append(l.sinks, f)
	}
	if cfg.Stdout != nil {
		l.sinks = append(l.sinks, cfg.Stdout)
	}
	return l, nil
}

// Write records a server-level event (start, stop, reload).
func (l *Log) Write(r Record) error { return l.write(r) }

// Err is non-nil while records cannot be written and the policy is to deny:
// callers refuse new file operations with it.
func (l *Log) Err() error {
	if l == nil || l.cfg.FailOpen {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return ErrUnavailable
	}
	return nil
}

// write completes r with the chain fields and writes it to every sink.
func (l *Log) write(r Record) error {
	if l == nil {
		return nil
	}
	if l.cfg.HashPaths {
		r.Path, r.Target = l.hashName(r.Path), l.hashName(r.Target)
		r.Key, r.TargetKey = l.hashName(r.Key), l.hashName(r.TargetKey)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	r.Seq = l.seq
	r.Time = Time{l.cfg.Now()}
	r.Prev = hex.EncodeToString(l.prev[:])
	r.MAC = ""
	line, err := json.Marshal(r)
	if err != nil { // unreachable: Record holds only strings and numbers
		panic(fmt.Sprintf("audit: marshal record: %v", err))
	}
	if len(l.cfg.HMACKey) > 0 {
		line = appendMAC(line, l.cfg.HMACKey)
	}
	l.prev = sha256.Sum256(line)
	line = append(line, '\n')
	var failed error
	for _, s := range l.sinks {
		if _, err := s.Write(line); err != nil && failed == nil {
			failed = err
		}
	}
	return l.noteResult(failed)
}

// noteResult records a sink failure or recovery, and says whether the caller
// must treat the event as not recorded. Called with l.mu held.
func (l *Log) noteResult(err error) error {
	switch {
	case err != nil && l.failed == nil:
		l.cfg.Logger.Error("audit sink failed: records are not being written", "err", err.Error(), "deny", !l.cfg.FailOpen)
	case err == nil && l.failed != nil:
		l.cfg.Logger.Warn("audit sink recovered")
	}
	l.failed = err
	if err != nil && !l.cfg.FailOpen {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// appendMAC adds "mac" as the last field of the JSON object line: the MAC
// covers the line as it was without it.
func appendMAC(line, key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(line)
	sum := hex.EncodeToString(m.Sum(nil))
	out := append(line[:len(line)-1:len(line)-1], `,"mac":"`...)
	return append(append(out, sum...), `"}`...)
}

// hashName replaces a path or key with a keyed hash, so records still
// correlate without revealing the name. Empty stays empty.
func (l *Log) hashName(s string) string {
	if s == "" {
		return ""
	}
	m := hmac.New(sha256.New, l.cfg.HMACKey)
	m.Write([]byte("name\x00"))
	m.Write([]byte(s))
	return "hmac:" + hex.EncodeToString(m.Sum(nil))
}

// Session returns the recorder for one SSH connection; every record it
// writes carries id.
func (l *Log) Session(id string) *Session { return &Session{l: l, id: id} }

// Session records the events of one SSH connection. A nil *Session records
// nothing, for tests and callers without an audit trail.
type Session struct {
	l    *Log
	id   string
	user string
}

// WithUser returns a Session whose records also carry the authenticated user.
func (s *Session) WithUser(user string) *Session {
	if s == nil {
		return nil
	}
	c := *s
	c.user = user
	return &c
}

// ID is the session id shared by all records of the session.
func (s *Session) ID() string {
	if s == nil {
		return ""
	}
	return s.id
}

// Record writes r for this session. Its error is non-nil only when the record
// was not written and the policy is to deny: the caller must then fail the
// operation it was recording.
func (s *Session) Record(r Record) error {
	if s == nil {
		return nil
	}
	r.Session = s.id
	if r.User == "" {
		r.User = s.user
	}
	return s.l.write(r)
}

// Check is non-nil while new file operations must be refused because the
// audit trail cannot be written.
func (s *Session) Check() error {
	if s == nil {
		return nil
	}
	return s.l.Err()
}

// Name is p as this trail writes it: p itself, or its keyed hash with
// HashPaths. Operational logs name files through it, so they never reveal a
// name the trail hides and still correlate with it.
func (s *Session) Name(p string) string {
	if s == nil || s.l == nil || !s.l.cfg.HashPaths {
		return p
	}
	return s.l.hashName(p)
}
