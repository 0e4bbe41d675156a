// Package upload is the upload pipeline: one file's way from the client's
// writes to a committed S3 object. Writes arrive concurrently and slightly
// out of order; the reorder window puts them back in file order, the stages
// (stage.go: the plaintext's SHA-256, envelope sealing; later a malware scan,
// OpenPGP) see each whole part in turn, the parts go to S3 in the background
// under the process-wide upload memory (memory.go), and Close commits the
// multipart upload, or aborts it: a failed upload never reports success and
// leaves the previous object as it was. A temporary name's upload can stay
// pending until its rename or resume (Table).
//
// It knows nothing of SFTP sessions, paths or permissions and must not
// import s3fs (s3fs imports it, internal/layout checks this): what it needs
// of the session that opened a file comes through Session, what every
// upload shares through Config. The *Upload type's methods live in this
// file and commit.go only.
package upload

// This file takes the client's writes through the reorder window, runs each
// whole part through the stage chain and sends what comes out as a part;
// commit.go ends the upload (finish, commit or abort, and the pending state
// of a temporary name).

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// S3's multipart limits.
const (
	MinPartSize = 5 << 20 // every part but the last
	MaxPartSize = 5 << 30
	MaxParts    = 10000
)

const (
	// MaxAhead caps the bytes one upload holds beyond its current part while
	// waiting for a late write (pkg/sftp runs 8 writes at once, so they arrive
	// slightly out of order). Clients keep at most 64 writes of ≤ 255 KiB in
	// flight, so a late write is never further behind than that.
	MaxAhead = 16 << 20
	// PartsInFlight is how many parts of one upload go to S3 at once.
	PartsInFlight = 4
	// partsPerTier: every this many parts the part size doubles, so the first
	// parts stay small and a 10,000-part upload still exceeds 5 TiB.
	partsPerTier = 900
	// abortTimeout bounds the clean-up of a failed upload after its session ended.
	abortTimeout = 30 * time.Second
	// growStep is the smallest part buffer: buffers then double as they
	// fill, each step reserved from the upload memory before it is taken.
	growStep = 32 << 10
)

// partSizeFor returns the size of part n (1-based): base for the first 900
// parts, then doubling every 900 parts up to largest (see largestPart; at
// most S3's 5 GiB), so a 5 GiB largest part lets 10,000 parts of the
// smallest base (5 MiB) hold over 5 TiB. A client never announces a file's
// size, so the schedule must fit any size.
func partSizeFor(base, largest int64, n int32) int64 {
	size := base << ((n - 1) / partsPerTier)
	return min(size, largest)
}

// maxUploadSize is the largest file the part schedule can hold.
func maxUploadSize(base, largest int64) int64 {
	var total int64
	for n := int32(1); n <= MaxParts; n++ {
		total += partSizeFor(base, largest, n)
	}
	return total
}

// Config is what every upload of the process shares: s3fs.New makes one.
type Config struct {
	Store     store.Objects // s3fs's: its writes forget what listings cached
	Budget    *Budget       // the process-wide upload memory
	PartSize  int64         // size of the first parts; later parts grow, see partSizeFor
	Checksums bool          // send CRC32C checksums per part and for the whole object ("aws" mode)
	// Wait bounds a write's wait for upload memory: past it the write fails.
	Wait time.Duration
	// Throttled hears the time a write waited for upload memory; nil: nobody listens.
	Throttled func(reason string, d time.Duration)
	Pending   *Table // uploads under a temporary name, closed and not yet renamed
	// Track notes a multipart upload in flight, which the orphan sweep never
	// aborts, until untrack; InFlight asks whether an upload id is one.
	Track    func(uploadID string) (untrack func())
	InFlight func(uploadID string) bool
}

// Session is what an upload needs of the SFTP session writing it: s3fs's
// handlers. A pending upload resumed or renamed by another session takes
// that session's.
type Session interface {
	Context() context.Context // ends with the session: parts in flight stop, the upload aborts
	Logger() *slog.Logger
	User() string   // whose share of the upload memory the upload takes
	Share() int64   // that share
	Bucket() string // where the object is stored
	// Name is a path or key as the log may show it, Cause an error's text
	// (both hashed when the trail hashes names).
	Name(path string) string
	Cause(err error, keys ...string) string
	// Failed logs a failed storage call and returns the partner's answer;
	// op is what the partner asked for ("upload"), keys the object keys
	// the call touched other than path's.
	Failed(op, path string, err error, keys ...string) error
	// CanSee reports whether the user may learn which files exist.
	CanSee() bool
	// AuditReady refuses a commit the trail cannot record; Record writes
	// the close record, completed with the outcome err.
	AuditReady() error
	Record(r audit.Record, err error) error
	// Forget drops u from the session's open uploads; Remember notes a file
	// the session stored (a write-only user may stat it).
	Forget(path string, u *Upload)
	Remember(path string, size int64)
	// KeepMtime keeps mtime on the stored object at key (a metadata
	// self-copy); HoldMtime keeps it for the rename that follows, if path is
	// a temporary name, and reports whether it did.
	KeepMtime(key string, mtime time.Time) error
	HoldMtime(path string, mtime time.Time) bool
}

// File is what the session opened: where the upload goes and on which terms.
type File struct {
	Path, Key string
	Overwrite bool // false: the object must not exist (If-None-Match: *)
	Exclusive bool // opened with EXCL, or APPEND of a new file: nothing may replace a file that appeared meanwhile
	// KeepIfUntouched: opened without TRUNC over an existing object, which
	// a CLOSE with nothing written (and no truncate) leaves as it was.
	KeepIfUntouched bool
	Sealer          *Sealer   // envelope encryption of the object; nil stores plaintext
	Mtime           time.Time // time to store with the object; zero: none
	Temp            *Temp     // the final name of a temporary name, or nil
	Gates           []Gate    // content gates, in order, before the SHA-256: it is the plaintext's
}

// Temp is the final name of a temporary file: its multipart upload is made
// under FinalKey (the data key bound to Binding) and left pending at CLOSE.
type Temp struct {
	Final, FinalKey string
	Binding         objfmt.Binding
}

// Error is an upload's failure as the partner reads it: its text names no
// storage detail, bucket or key. Reason, set when the server refused the
// file (a gate's Refusal.Kind: "malware"), is the trail's reason.
type Error struct{ Msg, Reason string }

func (e *Error) Error() string { return e.Msg }

func failure(msg string) error { return &Error{Msg: msg} }

// Upload is an io.WriterAt that streams one file into S3. Writes are copied
// into the current part's buffer at their offset, whatever order they arrive
// in; a part that is filled without holes goes through the stages and is
// sent in the background. The object becomes visible only when Close
// completes the upload, after the stages agreed (Finish); any failure, a
// veto, a transfer error or a hole aborts it and Close reports the error.
type Upload struct {
	cfg       *Config
	s         Session
	path, key string
	overwrite bool // false: the object must not exist (If-None-Match: *)
	exclusive bool // opened with EXCL, or APPEND of a new file: nothing may replace a file that appeared meanwhile
	started   time.Time
	sealer    *Sealer // envelope encryption of the object (its stage is in stages); nil stores plaintext

	ctx    context.Context // cancelled on transfer error or part failure
	cancel context.CancelFunc

	mu       sync.Mutex
	part     *part   // part being filled
	ahead    []chunk // writes beyond the current part, waiting for it to fill
	aheadLen int64
	aheadEnd int64 // end of the furthest write in ahead
	// held is the upload memory reserved for the part being filled and
	// ahead (a part sent takes its share along): see memoryInUse.
	held     int64
	size     int64  // highest offset written
	uploadID string // "" until the multipart upload is created
	untrack  func() // forgets uploadID as in flight (see Config.Track)
	// retriedCreate is when CreateMultipartUpload was first tried, if the SDK
	// had to try it again: an earlier try may have started an upload too.
	retriedCreate time.Time
	done          []store.Part
	failed        error // first failure; once set the upload can only abort
	aborted       bool  // the failure is the connection's, not storage's
	closed        bool
	mtime         time.Time // set by SETSTAT while open (lftp), kept as metadata
	// keepIfUntouched: opened without TRUNC over an existing object. If
	// nothing is written and no SETSTAT size=0 came, CLOSE leaves the object
	// as it was (lftp put -c of a file already complete opens, then closes).
	keepIfUntouched bool
	truncate        bool // SETSTAT size=0 while open
	untouched       bool // closed as above: nothing stored
	createdMeta     bool // the multipart upload was created with mtime in its metadata

	// A temporary name (see Temp): its multipart upload is made under
	// finalKey, the key of final, and is left pending at CLOSE.
	final, finalKey, tempKey string
	finalBinding             objfmt.Binding
	pending                  bool                // closed, waiting for its rename or resume
	tailSent                 bool                // finish sent a short last part (or the stages' last bytes): no part may follow
	parts                    map[int32]partState // what each part sent leaves behind

	releaseSlot func() // gives back the session's open-file slot, at Close

	wg       sync.WaitGroup // part uploads in flight
	inflight chan struct{}

	// The stages, fed part by part in file order: each part's goroutine
	// waits for passed, the channel its predecessor closes once through.
	stages Chain
	sum    *Hash // the first stage: the plaintext's SHA-256
	passed chan struct{}
	crc    hash.Hash32   // of the stored bytes, in "aws" checksum mode (S3 checks it); else nil
	stored store.Written // what S3 answered to the commit
	// stageErr is a stage's failure, seen only by the parts' goroutines in
	// their turn (passed orders them), or by putWhole when no part was sent.
	stageErr    error
	storedBytes int64  // what the stages passed on so far: the object's size in S3
	carry       []byte // stages' output short of a part, waiting for the next part's (carryOver)

	gates    []Gate            // the content gates among the stages
	gateTags map[string]string // what they found, once they agreed: kept on the object
	gateNote audit.Record      // and in the close record (Scan, Signer)
}

// part is a buffer for bytes [start, start+size) of the file.
type part struct {
	num      int32
	start    int64
	size     int64
	buf      []byte
	filled   []span // written ranges, relative to start, sorted and merged
	reserved int64  // once sent: bytes of upload memory it holds until S3 answers
	last     bool   // the object's last part (envelope: ends with the final chunk)
}

type span struct{ from, to int64 }

type chunk struct {
	off  int64
	data []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// New starts the upload of f for session s: its bytes go through the
// SHA-256 of the plaintext, then, under envelope encryption, the sealer's
// stage.
func New(cfg *Config, s Session, f File) *Upload {
	ctx, cancel := context.WithCancel(s.Context())
	passed := make(chan struct{})
	close(passed)
	sum := NewHash()
	var stages Chain
	for _, g := range f.Gates {
		stages = append(stages, g)
	}
	stages = append(stages, sum)
	if f.Sealer != nil {
		stages = append(stages, f.Sealer.stage)
	}
	u := &Upload{
		cfg: cfg, s: s, path: f.Path, key: f.Key, overwrite: f.Overwrite, exclusive: f.Exclusive,
		keepIfUntouched: f.KeepIfUntouched, mtime: f.Mtime, started: time.Now(),
		ctx: ctx, cancel: cancel, sealer: f.Sealer,
		inflight: make(chan struct{}, PartsInFlight),
		stages:   stages, sum: sum, passed: passed, gates: f.Gates,
	}
	if f.Temp != nil {
		u.final, u.finalKey, u.tempKey, u.finalBinding = f.Temp.Final, f.Temp.FinalKey, f.Key, f.Temp.Binding
	}
	if cfg.Checksums {
		u.crc = crc32.New(castagnoli)
	}
	return u
}

// WriteAt copies p into the upload. It waits only for upload memory, never
// for a missing earlier write, and without holding the upload's lock, so a
// late write can still fill the gap that lets a part go to S3. The wait is
// bounded: past it the write fails with a message saying why.
func (u *Upload) WriteAt(p []byte, off int64) (int, error) {
	n := len(p)
	if off < 0 {
		return 0, failure("upload failed: negative offset")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for {
		if err := u.usable(); err != nil {
			return 0, err
		}
		if u.part == nil { // the first write, or the first since a resume
			if err := u.nextPart(int32(len(u.done))+1, u.size); err != nil {
				return 0, err
			}
		}
		if off < u.part.start {
			return 0, u.fail(failure("upload failed: rewriting data already sent to storage is not supported"))
		}
		need, ahead := u.memoryFor(off, int64(n))
		if ahead > MaxAhead {
			return 0, u.fail(failure("upload failed: writes arrived too far out of order"))
		}
		short := need - u.held
		if short <= 0 {
			break
		}
		u.mu.Unlock()
		err := u.reserve(short)
		u.mu.Lock()
		if err != nil {
			return 0, u.fail(err)
		}
		if err := u.usable(); err != nil { // closed or failed meanwhile
			u.cfg.Budget.Release(u.s.User(), short)
			return 0, err
		}
		u.held += short
	}
	defer u.settle()
	u.size = max(u.size, off+int64(n))
	if partEnd := u.part.start + u.part.size; off < partEnd {
		k := min(int64(len(p)), partEnd-off)
		u.writePart(u.part, off-u.part.start, p[:k])
		p, off = p[k:], off+k
	}
	if len(p) > 0 {
		u.ahead = append(u.ahead, chunk{off, bytes.Clone(p)})
		u.aheadLen += int64(len(p))
		u.aheadEnd = max(u.aheadEnd, off+int64(len(p)))
	}
	for u.part.full() {
		if err := u.advance(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// memoryFor is the upload memory the upload would hold with n more bytes
// written at off, and the reach of its waiting writes beyond the current
// part. The waiting writes count for their reach, not only their bytes:
// they become the next part's buffer, which spans them.
func (u *Upload) memoryFor(off, n int64) (need, ahead int64) {
	pt := u.part
	partEnd := pt.start + pt.size
	c := int64(cap(pt.buf))
	if off < partEnd && n > 0 {
		c = u.grownCap(pt, min(off+n, partEnd)-pt.start)
	}
	aheadLen, aheadEnd := u.aheadLen, u.aheadEnd
	if end := off + n; end > partEnd {
		aheadLen += end - max(off, partEnd)
		aheadEnd = max(aheadEnd, end)
	}
	ahead = max(aheadLen, aheadEnd-partEnd)
	return c + ahead, ahead
}

// memoryInUse is what the part being filled and the waiting writes hold.
func (u *Upload) memoryInUse() int64 {
	if u.part == nil {
		return u.aheadLen
	}
	need, _ := u.memoryFor(u.part.start, 0)
	return need
}

// settle makes the upload's reservation what it holds: a write reserves
// before it knows whether a concurrent one already grew the buffer, and
// waiting writes moved into a new part may take a little more room than
// they held (that bit is taken without waiting: the bytes are in memory).
func (u *Upload) settle() {
	use, user := u.memoryInUse(), u.s.User()
	switch {
	case use > u.held:
		u.cfg.Budget.Force(user, use-u.held)
	case use < u.held:
		u.cfg.Budget.Release(user, u.held-use)
	}
	u.held = use
}

// grownCap is the capacity pt's buffer needs to hold its bytes [0, end).
// The first part's doubles from growStep up to the whole part (with room for
// the stages to work in place: envelope sealing), so a small file, or an
// open file with one byte written, holds at most about twice its bytes.
// Later parts belong to a file that has already sent a whole part: they
// take their whole size at once, and their bytes are never copied.
func (u *Upload) grownCap(pt *part, end int64) int64 {
	c, need := int64(cap(pt.buf)), u.roomFor(end)
	switch {
	case need <= c:
		return c
	case pt.num > 1 && c > 0: // c is 0 only while waiting writes move in (nextPart)
		return u.roomFor(pt.size)
	}
	return min(u.roomFor(pt.size), max(need, 2*c, growStep))
}

// roomFor is the buffer n bytes of the file need: the room for the stages
// to work on them in place (under envelope encryption, to seal them).
func (u *Upload) roomFor(n int64) int64 { return u.stages.OutSize(n) }

// ThrottledUploadMemory is the reason, for Config.Throttled, of a write
// that waited for upload memory: the budget or its user's share was full.
const ThrottledUploadMemory = "upload_memory"

// reserve takes n bytes of upload memory for u, of its session's user,
// waiting at most Config.Wait, and says plainly why it gave up.
func (u *Upload) reserve(n int64) error {
	waited, err := u.cfg.Budget.Acquire(u.ctx, u.s.User(), u, u.s.Share(), n, u.cfg.Wait)
	if waited > 0 && u.cfg.Throttled != nil {
		u.cfg.Throttled(ThrottledUploadMemory, waited)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errShareSpent):
		u.log(slog.LevelWarn, "upload memory wait timed out", slog.String("err", "user at its share"))
		return failure("upload failed: this user's other uploads and open files hold all the upload memory it may use; close some or try again later")
	case errors.Is(err, errBudgetSpent):
		u.log(slog.LevelWarn, "upload memory wait timed out", slog.String("err", "budget in use"))
		return failure("upload failed: the server is busy with other uploads; try again later")
	}
	return failure("upload failed: session is closing")
}

func (u *Upload) usable() error {
	switch {
	case u.closed:
		return failure("upload failed: file already closed")
	case u.failed != nil:
		return u.failed
	}
	return nil
}

// fail records the first failure and stops part uploads in flight.
func (u *Upload) fail(err error) error {
	if u.failed == nil {
		u.failed = err
		u.cancel()
		u.cfg.Budget.Finished(u.s.User(), u) // it finishes no part: let another
	}
	return u.failed
}

// nextPart starts part num and moves the waiting writes into it. Its
// buffer takes memory as it fills; its size never exceeds what the user's
// share of the upload memory can hold (largestPart).
func (u *Upload) nextPart(num int32, start int64) error {
	if num > MaxParts {
		return u.fail(failure("upload failed: file exceeds the largest size this server accepts"))
	}
	size := partSizeFor(u.cfg.PartSize, largestPart(u.s.Share(), u.cfg.PartSize, u.sealer != nil), num)
	pt := &part{num: num, start: start, size: size}
	u.part = pt
	waiting := u.ahead
	u.ahead, u.aheadLen, u.aheadEnd = nil, 0, 0
	end, reach := start+size, start
	for _, c := range waiting {
		reach = max(reach, min(c.off+int64(len(c.data)), end))
	}
	if reach > start { // one allocation for all of them
		pt.buf = make([]byte, 0, u.grownCap(pt, reach-start))
	}
	for _, c := range waiting {
		if c.off >= end {
			u.keepAhead(c)
			continue
		}
		n := min(int64(len(c.data)), end-c.off)
		u.writePart(pt, c.off-start, c.data[:n])
		if n < int64(len(c.data)) {
			u.keepAhead(chunk{c.off + n, c.data[n:]})
		}
	}
	return nil
}

func (u *Upload) keepAhead(c chunk) {
	u.ahead = append(u.ahead, c)
	u.aheadLen += int64(len(c.data))
	u.aheadEnd = max(u.aheadEnd, c.off+int64(len(c.data)))
}

// writePart copies b to offset off of pt, growing its buffer as grownCap
// says (the write reserved that memory first).
func (u *Upload) writePart(pt *part, off int64, b []byte) {
	end := off + int64(len(b))
	if end > int64(len(pt.buf)) {
		if c := u.grownCap(pt, end); c > int64(cap(pt.buf)) {
			grown := make([]byte, len(pt.buf), c)
			copy(grown, pt.buf)
			pt.buf = grown
		}
		pt.buf = pt.buf[:end]
	}
	copy(pt.buf[off:], b)
	pt.filled = addSpan(pt.filled, span{off, end})
}

// addSpan inserts s into sorted, merged spans.
func addSpan(spans []span, s span) []span {
	i, _ := slices.BinarySearchFunc(spans, s.from, func(a span, from int64) int { return int(a.from - from) })
	spans = slices.Insert(spans, i, s)
	merged := spans[:0]
	for _, sp := range spans {
		if n := len(merged); n > 0 && sp.from <= merged[n-1].to {
			merged[n-1].to = max(merged[n-1].to, sp.to)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// contiguous reports whether the part holds bytes [0, len(buf)) without holes.
func (pt *part) contiguous() bool {
	return len(pt.buf) == 0 || (len(pt.filled) == 1 && pt.filled[0] == span{0, int64(len(pt.buf))})
}

func (pt *part) full() bool {
	return int64(len(pt.buf)) == pt.size && pt.contiguous()
}

// advance sends the current part to S3 in the background and starts the next.
func (u *Upload) advance() error {
	if u.uploadID == "" {
		if err := u.create(); err != nil {
			return err
		}
	}
	pt := u.part
	if err := u.send(pt); err != nil {
		return err
	}
	return u.nextPart(pt.num+1, pt.start+pt.size)
}

func (u *Upload) create() error {
	if u.final != "" { // made under the final key: the data key must be bound to it
		if err := u.sealer.bindTo(u.ctx, u.finalBinding); err != nil {
			return u.fail(u.s.Failed("upload", u.path, fmt.Errorf("bind data key to %s: %w", u.finalKey, err), u.finalKey))
		}
	}
	in := store.CreateRequest{
		Bucket:   u.s.Bucket(),
		Key:      u.key,
		Metadata: u.objectMetadata(objfmt.WithMtime(objfmt.UploadMarker(), u.mtime)),
	}
	if u.final != "" { // pending until renamed: the time set meanwhile is stored as a tag
		u.key = u.finalKey
		in.Key = u.key
		in.Metadata[objfmt.MetaMtime] = objfmt.MtimeInTag
	}
	began := time.Now()
	out, err := u.cfg.Store.CreateMultipart(u.ctx, in)
	if err != nil {
		return u.fail(u.s.Failed("upload", u.path, fmt.Errorf("create multipart upload %s: %w", u.key, err), u.key))
	}
	u.uploadID = out.UploadID
	u.createdMeta = !u.mtime.IsZero()
	u.untrack = u.cfg.Track(out.UploadID)
	if out.Retried {
		u.retriedCreate = began
	}
	return nil
}

// send uploads one part in the background once one of the upload's
// PartsInFlight slots is free. Waiting here, not in the background, is what
// slows the client down to S3's pace: one upload holds at most PartsInFlight
// parts, the part being filled and MaxAhead, whatever upload_memory allows.
// A part's slot and memory return as soon as S3 has answered, before the
// upload's lock is taken again, so a waiting WriteAt never blocks the part
// that would let it go on.
func (u *Upload) send(pt *part) error {
	u.part = nil
	user := u.s.User()
	pt.reserved = min(int64(cap(pt.buf)), u.held)
	u.held -= pt.reserved
	u.cfg.Budget.Sending(user, u, pt.reserved) // done with this part: it may have gone past the share
	select {
	case u.inflight <- struct{}{}:
	case <-u.ctx.Done():
		u.cfg.Budget.Sent(user, pt.reserved)
		return u.fail(failure("upload failed: session is closing"))
	}
	prev, mine := u.passed, make(chan struct{})
	u.passed = mine
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		<-prev
		end := pt.start + int64(len(pt.buf))
		body, err := u.pass(pt.buf, pt.last)
		if err == nil {
			body = u.carryOver(body, pt.last)
		}
		var st partState
		if err == nil {
			st = partState{end: end, stored: u.storedBytes, marks: u.stages.Mark(), crc: u.crcMark()}
		}
		close(mine)
		if err != nil || len(body) == 0 { // failed, an empty tail, or short output carried over: nothing to store
			<-u.inflight
			u.cfg.Budget.Sent(user, pt.reserved)
			if err != nil {
				u.mu.Lock()
				u.fail(u.stageFailure(err))
				u.mu.Unlock()
			}
			return
		}
		done, err := u.cfg.Store.UploadPart(u.ctx, store.PartRequest{
			Bucket: u.s.Bucket(), Key: u.key, UploadID: u.uploadID, Number: pt.num, Body: body,
		})
		<-u.inflight
		u.cfg.Budget.Sent(user, pt.reserved)

		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			u.fail(u.s.Failed("upload", u.path, fmt.Errorf("upload part %d of %s: %w", pt.num, u.key, err), u.key))
			return
		}
		u.done = append(u.done, done)
		u.tailSent = u.tailSent || pt.last // a stage's last bytes: no part may follow
		if u.parts == nil {
			u.parts = map[int32]partState{}
		}
		u.parts[pt.num] = st
	}()
	return nil
}

// pass runs the bytes of a part, or of the whole file, through the stages
// in file order (the caller waits for its predecessor) and returns what
// goes to S3, adding it to the CRC32C that S3 checks. After a stage failed,
// the later parts pass nothing: the upload is failing.
func (u *Upload) pass(b []byte, last bool) ([]byte, error) {
	if u.stageErr != nil {
		return nil, u.stageErr
	}
	out, err := u.stages.Write(b, last)
	if err != nil {
		u.stageErr = err
		return nil, err
	}
	if u.crc != nil {
		u.crc.Write(out)
	}
	u.storedBytes += int64(len(out))
	return out, nil
}

// carryOver holds back output shorter than S3's smallest part, unless it
// ends the file, for the next part: a gate that changes the bytes' length
// (decryption) makes it. It is a copy outside the upload memory, < 5 MiB.
func (u *Upload) carryOver(body []byte, last bool) []byte {
	if len(u.carry) > 0 {
		body = append(u.carry, body...)
		u.carry = nil
	}
	if !last && len(body) < MinPartSize {
		u.carry = append([]byte(nil), body...)
		return nil
	}
	return body
}

// partState is what a sent part leaves behind: where it ends in the file,
// and the stages' and the CRC32C's state at that end, so an interrupted
// upload can go on from any whole part. marks is nil when a stage cannot
// resume.
type partState struct {
	end, stored int64 // in the file, and in the object
	marks       [][]byte
	crc         []byte
}

func (u *Upload) crcMark() []byte {
	if u.crc == nil {
		return nil
	}
	m, _ := u.crc.(encoding.BinaryMarshaler).MarshalBinary() // crc32's never fails
	return m
}

// rewind returns the stages and the CRC32C to their state at the end of a
// sent part.
func (u *Upload) rewind(st partState) error {
	if err := u.stages.Rewind(st.marks); err != nil {
		return err
	}
	u.storedBytes = st.stored
	if u.crc != nil {
		if err := u.crc.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.crc); err != nil {
			return fmt.Errorf("rewind crc32c: %w", err)
		}
	}
	return nil
}

// TransferError is called by pkg/sftp when the connection broke with this file
// open: the upload must abort, whatever Close later sees.
func (u *Upload) TransferError(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.final != "" && u.uploadID != "" && u.failed == nil {
		// parts in flight may finish: a resume goes on after them
		u.failed = failure("upload aborted: connection lost")
	}
	u.fail(failure("upload aborted: connection lost"))
	u.aborted = true
	u.log(slog.LevelWarn, "upload interrupted", slog.String("path", u.s.Name(u.path)), slog.String("err", err.Error()))
}

// SetTime records a time set while the file is open (lftp's SETSTAT before
// CLOSE, or after it on a pending upload): it is stored with the object.
func (u *Upload) SetTime(mtime time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.mtime = mtime
}

// Truncate records a SETSTAT size=0 while the file is open: an upload with
// nothing written then replaces the object with an empty file (scp of an
// empty file opens without TRUNC).
func (u *Upload) Truncate() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.truncate = true
}

// Info describes an upload for stat and listings.
type Info struct {
	Path  string    // the client's path the upload was opened as
	Size  int64     // bytes received so far
	Mtime time.Time // the time set on it, or its start
}

// pendingInfo is Info of an upload that is closed (pending): nothing
// changes it meanwhile.
func (u *Upload) pendingInfo() Info {
	mtime := u.mtime
	if mtime.IsZero() {
		mtime = u.started
	}
	return Info{Path: u.path, Size: u.size, Mtime: mtime}
}

// Info describes the upload as it is now, its writes going on.
func (u *Upload) Info() Info {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pendingInfo()
}

// Path is the client's path the upload was opened as.
func (u *Upload) Path() string { return u.path }

// Key is the object key it is stored under: a temporary name's, once its
// first part was sent, is the final name's.
func (u *Upload) Key() string { return u.key }

// UploadID is the id of its multipart upload, "" before the first part.
func (u *Upload) UploadID() string { return u.uploadID }

// SHA256 is the SHA-256 of the plaintext received so far, in hex.
func (u *Upload) SHA256() string { return u.sum.Hex() }

// AddStage appends a stage to the upload's chain, before anything was
// written: a stage chosen for this file (a content gate) after the
// built-in ones.
func (u *Upload) AddStage(s Stage) { u.stages = append(u.stages, s) }

// HoldSlot gives release to Close, which calls it: it gives back the
// session's open-file slot.
func (u *Upload) HoldSlot(release func()) { u.releaseSlot = release }

// Drop lets go of an upload opened but refused before any write (its
// open could not be recorded, or the path is busy).
func (u *Upload) Drop() {
	u.cancel()
	u.stages.Abort()
}

func (u *Upload) log(level slog.Level, msg string, attrs ...slog.Attr) {
	u.s.Logger().LogAttrs(u.s.Context(), level, msg, attrs...)
}
