// Package audit owns the audit trail: typed records as JSON lines, each
// chained to the one before by a SHA-256 hash (and a keyed MAC when a key is
// configured), written to the configured sinks, and checked by Verify. It is
// data for compliance, not operational logging: it never writes secrets, and
// with HashPaths it never writes a file name either.
package audit

import (
	"context"
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

// ErrNotShipped is wrapped by Close's error when the records are safe on
// local disk but some closed segment could not be shipped (Config.Ship).
var ErrNotShipped = errors.New("audit segments not shipped")

// Config says where records go and how they are protected.
type Config struct {
	File      string    // append every line to this file (mode 0600), continuing its chain; "" = off
	Stdout    io.Writer // also write every line here; nil = off
	HMACKey   []byte    // keys the MAC over each line, and the path hashes; nil = no MAC
	HashPaths bool      // replace paths and object keys by keyed hashes (needs HMACKey)
	FailOpen  bool      // on_failure = "continue": a sink failure is logged, nothing is refused
	Logger    *slog.Logger
	Now       func() time.Time // tests; nil = time.Now
	// Observe, if set, sees every record as it is written (paths already
	// hashed with HashPaths), whatever the sinks answer: the metrics count
	// events from it. It must not block or keep r.
	Observe func(r Record)

	// Durability of the File sink: rotation into segments, checkpoints,
	// and the off-machine copy. All need File.
	RotateSize      int64         // start a new segment before the file would grow past this; 0 = no size limit
	RotateEvery     time.Duration // also start one when the file has been open this long; 0 = by size only
	CheckpointEvery time.Duration // this often, if records were written, write a checkpoint record and <File>.checkpoint; 0 = only at rotation and Close
	Ship            Shipper       // receives every closed segment, in order; while one waits after a failure, Err denies. nil = keep segments local only

	shipRetry time.Duration // first delay after a failed ship; 0 = 1s (tests shorten it)
}

// Log is the process's one audit trail. All methods are safe for concurrent use.
type Log struct {
	cfg Config

	mu     sync.Mutex
	seq    uint64
	prev   [sha256.Size]byte
	last   []byte   // the last line of the trail, for the sidecar at Close
	file   *os.File // the File sink, closed by Close
	failed error    // the last sink failure, nil once a write succeeded again

	// Lines the file sink failed to take, written before the next line; torn
	// says the failed write left part of a line behind, to be cut off first.
	backlog []byte
	torn    bool
	closed  bool

	// The current file, for rotation and checkpoints.
	size            int64     // bytes in file
	firstSeq        uint64    // seq of its first record; 0 = none yet
	opened          time.Time // when this process opened or started it
	dirty           bool      // it holds records besides its segment_start
	afterTorn       bool      // it ends in a line a crash tore: the next record (the restart's server_start) goes right after it, never after a rotation
	sinceCheckpoint int       // records written since the last checkpoint
	lastCheckpoint  time.Time

	// Shipping closed segments (Config.Ship).
	pending []string      // closed segments not yet shipped, oldest first
	shipErr error         // the last ship failure, nil once a ship succeeded
	wake    chan struct{} // tells shipLoop a segment was queued

	stop   chan struct{}      // closed by Close: stops tickLoop
	cancel context.CancelFunc // stops shipLoop
	wg     sync.WaitGroup     // tickLoop and shipLoop
}

// Close ends the trail: it stops the timers, makes the file durable and
// updates the checkpoint sidecar with the last line. With a Shipper it
// rotates the current file, so the last records ship too, and makes one
// bounded attempt (10 s) to ship every pending segment; what is left ships
// at the next start. Records written after Close fail.
//
// An error that wraps ErrNotShipped means only the off-machine copy is
// missing: every record is durable in a closed local segment, the chain is
// intact. A short-lived writer (s3sftpd presign) uses this to rotate and
// ship synchronously before it acts on what it recorded.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()

	l.mu.Lock()
	var err error
	switch {
	case l.file == nil:
	case l.cfg.Ship != nil && l.dirty:
		err = l.rotate(false)
	default:
		err = l.file.Sync()
		if err == nil && l.last != nil {
			err = l.writeSidecar(l.last)
		}
	}
	if l.file != nil {
		if cerr := l.file.Close(); err == nil {
			err = cerr
		}
		l.file = nil
	}
	l.mu.Unlock()
	if l.cfg.Ship != nil {
		// A local failure matters more; shipRest has logged its own.
		if serr := l.shipRest(); serr != nil && err == nil {
			err = fmt.Errorf("%w: %w", ErrNotShipped, serr)
		}
	}
	return err
}

var errClosed = errors.New("audit log closed")

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
	if cfg.File == "" && (cfg.Ship != nil || cfg.RotateSize > 0 || cfg.RotateEvery > 0 || cfg.CheckpointEvery > 0) {
		return nil, errors.New("audit: rotation, checkpoints and shipping need a file")
	}
	l := &Log{cfg: cfg, stop: make(chan struct{}), wake: make(chan struct{}, 1)}
	if cfg.File == "" {
		return l, nil
	}
	f, st, err := openFile(cfg.File)
	if err != nil {
		return nil, err
	}
	l.file, l.prev, l.seq, l.last = f, st.prev, st.seq, st.last
	l.size, l.firstSeq, l.dirty = st.size, st.firstSeq, st.size > 0
	l.afterTorn = st.tornTail
	l.opened, l.lastCheckpoint = cfg.Now(), cfg.Now()
	if cfg.Ship != nil {
		if l.pending, err = unshipped(cfg.File); err != nil {
			f.Close()
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		l.wg.Add(1)
		go l.shipLoop(ctx)
	}
	if cfg.RotateEvery > 0 || cfg.CheckpointEvery > 0 {
		l.wg.Add(1)
		go l.tickLoop(tickPeriod(cfg))
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
	if l.failed != nil || l.shipErr != nil {
		return ErrUnavailable
	}
	return nil
}

// observe shows Observe a record that is counted but not written, without
// its names (they are neither hashed nor needed to count it).
func (l *Log) observe(r Record) {
	if l.cfg.Observe != nil {
		r.Path, r.Target, r.Key, r.TargetKey = "", "", "", ""
		bound(&r)
		l.cfg.Observe(r)
	}
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
	bound(&r)
	if l.cfg.Observe != nil {
		l.cfg.Observe(r)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.noteResult(errClosed)
	}
	line := l.encode(r)
	if l.rotateDue(len(line) + 1) {
		if err := l.rotate(true); err != nil {
			return l.noteResult(err)
		}
		line = l.encode(r)
	}
	return l.noteResult(l.commit(line, r.Event))
}

// encode returns r as the next line of the chain, without its newline.
// Called with l.mu held.
func (l *Log) encode(r Record) []byte {
	r.Seq = l.seq + 1
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
	return line
}

// commit adds line, made by encode, to the chain and writes it to every
// sink. Called with l.mu held.
func (l *Log) commit(line []byte, event string) error {
	l.seq++
	l.afterTorn = false
	l.prev = sha256.Sum256(line)
	l.last = line
	if l.firstSeq == 0 {
		l.firstSeq = l.seq
	}
	if event != EventSegmentStart {
		l.dirty = true
	}
	if event != EventCheckpoint && event != EventSegmentEnd {
		l.sinceCheckpoint++
	}
	buf := append(line[:len(line):len(line)], '\n')
	var failed error
	if l.file != nil {
		failed = l.appendFile(buf)
	}
	if l.cfg.Stdout != nil {
		if _, err := l.cfg.Stdout.Write(buf); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// maxBacklog bounds the lines held while the file cannot be written.
const maxBacklog = 16 << 20

// appendFile writes buf to the file after the lines an earlier failure left
// unwritten. A full disk or a lost mount delays records but does not tear
// them: a partial write is cut off and written again whole with the next
// record. Past maxBacklog a line is dropped, and verify will report the gap.
// Called with l.mu held.
func (l *Log) appendFile(buf []byte) error {
	out := buf // the usual case: nothing is waiting, write the line as it is
	if len(l.backlog) > 0 {
		if len(l.backlog)+len(buf) > maxBacklog {
			l.cfg.Logger.Error("audit record lost: the audit file has been failing too long", "seq", l.seq)
			return errBacklogFull
		}
		l.backlog = append(l.backlog, buf...)
		out = l.backlog
	}
	if l.torn {
		if err := l.file.Truncate(l.size); err != nil {
			return fmt.Errorf("cut off a partly written audit record: %w", err)
		}
		l.torn = false
	}
	n, err := l.file.Write(out)
	if err != nil {
		l.torn = n > 0
		if len(l.backlog) == 0 {
			l.backlog = append(l.backlog, buf...)
		}
		return err
	}
	l.size += int64(n)
	l.backlog = nil
	return nil
}

var errBacklogFull = errors.New("audit file unwritable for too long: records dropped")

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
func (l *Log) hashName(s string) string { return HashName(l.cfg.HMACKey, s) }

// HashName is s as a trail keyed by key writes it with HashPaths: "hmac:"
// and the hex HMAC-SHA256 of s. A report uses it to recognise the names it
// is shown. Empty stays empty.
func HashName(key []byte, s string) string {
	if s == "" {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("name\x00"))
	m.Write([]byte(s))
	return "hmac:" + hex.EncodeToString(m.Sum(nil))
}

// Session returns the recorder for one SSH connection; every record it
// writes carries id.
func (l *Log) Session(id string) *Session { return &Session{l: l, id: id, refused: &refusals{}} }

// Session records the events of one SSH connection. A nil *Session records
// nothing, for tests and callers without an audit trail.
type Session struct {
	l       *Log
	id      string
	user    string
	refused *refusals // shared by the copies WithUser makes
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
// operation it was recording. Denied records past the session's rate
// (refusals.go) are counted instead of written, and their error is nil: the
// request was refused either way.
func (s *Session) Record(r Record) error {
	if s == nil {
		return nil
	}
	r.Session = s.id
	if r.User == "" {
		r.User = s.user
	}
	var dropped int64
	switch {
	case r.Result == ResultDenied && s.l != nil:
		var write bool
		if write, dropped = s.refused.take(s.l.cfg.Now()); !write {
			s.l.observe(r)
			return nil
		}
	case r.Event == EventDisconnect:
		dropped = s.refused.flush()
	}
	if dropped > 0 {
		sum := unrecorded(dropped)
		sum.Session, sum.User = r.Session, r.User
		if err := s.l.write(sum); err != nil {
			return err
		}
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

// Name is p as this trail writes it: p itself (bounded to MaxPath), or its
// keyed hash with HashPaths. Operational logs name files through it, so they
// never reveal a name the trail hides, never take an attacker-sized one, and
// still correlate with the trail.
func (s *Session) Name(p string) string {
	if !s.HashesNames() {
		return Bound(p, MaxPath)
	}
	return s.l.hashName(p)
}

// HashesNames reports whether Name hashes (HashPaths): then no log may show
// a name in any other form either, such as inside an error's text.
func (s *Session) HashesNames() bool { return s != nil && s.l != nil && s.l.cfg.HashPaths }
