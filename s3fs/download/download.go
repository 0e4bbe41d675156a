// Package download is one file's way from S3 to the client: reads served
// from one streaming GET with read-ahead under a process-wide budget
// (readahead.go), ranged GETs for seeks, If-Match on the ETag seen at open,
// envelope chunks opened and authenticated, and the SHA-256 recorded at
// upload checked at the end. It knows nothing of SFTP sessions, paths or
// permissions and must not import s3fs (s3fs imports it, internal/layout
// checks this): what it needs of the session comes through Session.
package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/pgp"
	"github.com/s3sftpd/s3sftpd/s3fs/pickup"
	"github.com/s3sftpd/s3sftpd/store"
)

const (
	BlockSize   = 1 << 20 // unit of read-ahead and caching
	readAhead   = 8       // blocks fetched ahead of the furthest read
	keepBehind  = 4       // blocks kept behind it for late, out-of-order reads
	farBlocks   = 32      // a read further ahead than this is a seek, not a stream
	bodyRetries = 3       // times a broken GET body is resumed with a ranged GET
)

// Config is what every download of the process shares: s3fs.New makes one.
type Config struct {
	Store     store.Objects // s3fs's
	ReadAhead *ReadAhead    // the process-wide read-ahead memory
	// Throttled hears the time a read lost to a full read-ahead budget;
	// nil: nobody listens.
	Throttled func(reason string, d time.Duration)
}

// Session is what a download needs of the SFTP session reading it: s3fs's
// handlers.
type Session interface {
	Context() context.Context // ends with the session: the stream stops
	Logger() *slog.Logger
	User() string          // whose share of the read-ahead memory the stream takes
	ReadAheadShare() int64 // that share; 0: none of its own
	Bucket() string
	// Name is a path or key as the log may show it, Cause an error's text
	// (both hashed when the trail hashes names).
	Name(path string) string
	Cause(err error, keys ...string) string
	// Failed logs a failed storage call and returns the partner's answer
	// (op "download"); keys are the keys the call touched.
	Failed(op, path string, err error, keys ...string) error
	// Record writes the close record, completed with the outcome err.
	Record(r audit.Record, err error) error
}

// Object is the object to read, as its HEAD at open found it.
type Object struct {
	Path, Key       string
	ETag, VersionID string
	Size            int64   // plaintext size, what the client sees
	RawSize         int64   // stored size
	Opener          *Opener // decrypts an envelope-encrypted object; nil: stored as plaintext
	SHA256          string  // recorded at upload, "" if none (never for an encrypted object)
	// Encrypt, if set, is the encryption of what the client reads (Reader):
	// a download from an encrypting place; its error refuses the reads.
	Encrypt func() (*pgp.Encrypter, error)
	// PickUp deletes the version read once all of it went to the client
	// and the close was recorded ok (package pickup).
	PickUp bool
}

// Opener decrypts one stored object's chunks.
type Opener struct {
	obj      *objfmt.Object
	finalIdx int64
}

// NewOpener opens the chunks of obj, an object of size plaintext bytes.
func NewOpener(obj *objfmt.Object, size int64) *Opener {
	return &Opener{obj: obj, finalIdx: objfmt.Chunks(size) - 1}
}

// OpenEmpty authenticates the one chunk of an object that holds nothing
// (stored, read whole): a longer object cut to a single chunk's length
// must not pass for an empty file.
func (o *Opener) OpenEmpty(stored []byte) error {
	_, err := o.obj.Open(nil, stored, 0, o.finalIdx)
	return err
}

// Errors of a read: the bytes do not hash to the SHA-256 stored at upload
// (the last block is withheld, so the client sees a failed transfer), or
// the object has another ETag than when it was opened.
var (
	ErrCorrupt = errors.New("content does not match the SHA-256 recorded at upload")
	ErrChanged = errors.New("object changed since it was opened")
)

// isPrecondition reports a failed If-Match.
func isPrecondition(err error) bool {
	return store.HTTPStatus(err) == http.StatusPreconditionFailed || errors.Is(err, ErrChanged)
}

// Download is an io.ReaderAt over one object. Clients pipeline reads at
// ascending offsets, several at once and slightly out of order; once two
// reads run in sequence they are served from one streaming GET that runs a
// few blocks ahead, as far as the read-ahead budget and the user's share of
// it allow (readahead.go). Before that, and whenever the budget is full, a
// read gets its own ranged GET of just its bytes, as does a read far from
// the stream (a seek, or reget's resume). Every GET
// carries If-Match on the ETag seen at open, so a file replaced mid-download
// fails the read instead of splicing two versions together.
type Download struct {
	cfg       *Config
	s         Session
	path, key string
	etag      string
	versionID string
	size      int64                          // plaintext size, what the client sees
	rawSize   int64                          // stored size
	open      *Opener                        // decrypts an envelope-encrypted object; nil: stored as plaintext
	encrypt   func() (*pgp.Encrypter, error) // see Object.Encrypt
	pickUp    bool                           // see Object.PickUp
	started   time.Time
	// releaseSlot gives back the session's open-file slot, at Close.
	releaseSlot func()

	// SHA-256 of the object, fed under hmu by the stream and by direct reads
	// with the bytes that continue it in file order. When it differs from
	// the one stored at upload, the bytes that complete it are withheld.
	// The stream takes hmu without mu (never mu while holding hmu), so
	// hashing a block does not hold up reads of the blocks before it.
	hmu    sync.Mutex
	sum    hash.Hash
	hashed int64  // bytes fed to sum
	stored string // SHA-256 recorded at upload, "" if none

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	cond     *sync.Cond
	blocks   map[int64][]byte // block index → bytes
	next     int64            // next block the stream will deliver
	furthest int64            // furthest block a read has asked for
	want     int64            // stream runs until it has delivered this block
	body     io.ReadCloser    // the stream's open GET body, nil before the first read
	err      error            // stream failure, returned to readers that need it
	running  bool             // the stream goroutine is alive
	streamed bool             // the stream has been started once
	starved  bool             // the stream stopped: no read-ahead memory was free for its next block
	held     int64            // read-ahead memory reserved: a block for each in blocks or being read
	reads    int              // reads served before the stream started
	reach    int64            // end of the furthest of those
	sent     int64            // bytes returned to the client
	aborted  bool             // the connection broke with the file open
	wg       sync.WaitGroup
}

// New opens o for session s.
func New(cfg *Config, s Session, o Object) *Download {
	ctx, cancel := context.WithCancel(s.Context())
	d := &Download{
		cfg: cfg, s: s, path: o.Path, key: o.Key, etag: o.ETag, versionID: o.VersionID,
		size: o.Size, rawSize: o.RawSize, open: o.Opener, stored: o.SHA256, encrypt: o.Encrypt, pickUp: o.PickUp,
		sum: sha256.New(), started: time.Now(), ctx: ctx, cancel: cancel, blocks: make(map[int64][]byte), want: -1,
	}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// Path is the client's path the download was opened as.
func (d *Download) Path() string { return d.path }

// Reader is what the client reads: the object, or, with Object.Encrypt,
// the OpenPGP message of it (Encrypted).
func (d *Download) Reader() io.ReaderAt {
	if d.encrypt == nil {
		return d
	}
	e, err := d.encrypt()
	if err != nil {
		return refusedReader{d, err}
	}
	return NewEncrypted(d, e)
}

// HoldSlot gives release to Close, which calls it: it gives back the
// session's open-file slot.
func (d *Download) HoldSlot(release func()) { d.releaseSlot = release }

// ReadAt fills p from offset off; at the end of the object it returns io.EOF.
func (d *Download) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), d.size)
	first, last := off/BlockSize, (end-1)/BlockSize

	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.streamed {
		if !d.sequential(off, end) {
			// A file opened and read once, or at random, holds no read-ahead.
			return d.direct(p[:end-off], off, false)
		}
		d.next = first // the stream starts where the reads are (reget resumes mid-file)
	}
	if d.starved && !d.running && first > d.next {
		// The reads went on without the stream; it resumes at them, not
		// with the blocks they no longer need.
		d.closeBody()
		d.next = first
	}
	// A block is served from the stream when it is held, or still to come and
	// near; one already dropped, or far ahead, is a seek.
	if d.blocks[first] == nil && (first < d.next || first > d.next+farBlocks) {
		return d.direct(p[:end-off], off, false)
	}
	d.furthest = max(d.furthest, first)
	d.want = max(d.want, last+readAhead)
	d.startStream()
	n := 0
	for b := first; b <= last; b++ {
		for d.blocks[b] == nil && d.err == nil && b >= d.next && d.running {
			d.cond.Wait()
		}
		data := d.blocks[b]
		if data == nil {
			if d.err != nil {
				return n, d.s.Failed("download", d.path, d.err, d.key)
			}
			// evicted while we waited, or the stream stopped (out of
			// read-ahead memory, or the session is ending): fetch the rest
			// directly
			starved := d.starved
			d.sent += int64(n)
			m, err := d.direct(p[n:end-off], off+int64(n), starved)
			return n + m, err
		}
		from := max(off-b*BlockSize, 0)
		n += copy(p[n:end-off], data[from:])
	}
	d.evict()
	d.sent += int64(n)
	return d.eof(n, off, nil)
}

// sequential notes a read made before the stream started and reports
// whether reads now run in sequence: this one began within a block of where
// an earlier one ended (pipelined reads arrive slightly out of order).
func (d *Download) sequential(off, end int64) bool {
	seq := d.reads > 0 && off >= d.reach-BlockSize && off <= d.reach+BlockSize
	d.reads++
	d.reach = max(d.reach, end)
	return seq
}

// direct serves p at off with its own ranged GET, outside the stream.
// starved says the stream had no memory for it: the time goes to the
// metrics. d.mu is held on entry and on return, not during the GET.
func (d *Download) direct(p []byte, off int64, starved bool) (int, error) {
	d.mu.Unlock()
	start := time.Now()
	n, err := d.rangeRead(p, off)
	if starved {
		d.throttled(ThrottledReadAheadMemory, time.Since(start))
	}
	d.mu.Lock()
	if err == nil {
		if err = d.hashAt(off, p[:n]); err != nil { // a small file read in one go is checked too
			d.err = err
			return 0, d.s.Failed("download", d.path, err, d.key)
		}
	}
	d.sent += int64(n)
	return d.eof(n, off, err)
}

// throttled reports time a read lost to a limit, for the metrics.
func (d *Download) throttled(reason string, t time.Duration) {
	if d.cfg.Throttled != nil {
		d.cfg.Throttled(reason, t)
	}
}

// reserve takes one block of read-ahead memory from the budget and the
// user's share, if free now.
func (d *Download) reserve() bool {
	if !d.cfg.ReadAhead.tryReserve(d.s.User(), d.s.ReadAheadShare(), BlockSize) {
		return false
	}
	d.held += BlockSize
	return true
}

// unreserve returns the memory of n blocks.
func (d *Download) unreserve(n int64) {
	d.cfg.ReadAhead.release(d.s.User(), n*BlockSize)
	d.held -= n * BlockSize
}

// eof adds io.EOF when a read reached the end of the object.
func (d *Download) eof(n int, off int64, err error) (int, error) {
	if err == nil && off+int64(n) >= d.size {
		err = io.EOF
	}
	return n, err
}

// evict drops blocks too far behind the furthest read to be asked for again.
func (d *Download) evict() {
	for b, data := range d.blocks {
		if b < d.furthest-keepBehind {
			delete(d.blocks, b)
			d.cfg.ReadAhead.recycle(data)
			d.unreserve(1)
		}
	}
	d.cond.Broadcast()
}

func (d *Download) startStream() {
	if d.running || d.err != nil {
		d.cond.Broadcast()
		return
	}
	d.running, d.streamed, d.starved = true, true, false
	d.wg.Add(1)
	go d.stream()
}

// stream reads blocks from one GET body until it is as far ahead as wanted,
// then waits. A broken body is resumed with a ranged GET at the same ETag.
// Each block needs read-ahead memory; when none is free the stream stops,
// starved, and waiting reads fetch their bytes directly.
func (d *Download) stream() {
	defer d.wg.Done()
	retries := 0
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.cond.Broadcast() // readers waiting for a block it will not fetch now read it themselves
	for {
		for d.next > d.want && d.ctx.Err() == nil {
			d.cond.Wait()
		}
		if d.ctx.Err() != nil || d.next*BlockSize >= d.size {
			d.running = false
			return
		}
		if !d.reserve() {
			d.starved, d.running = true, false
			return
		}
		b := d.next
		d.mu.Unlock()
		data, err := d.readBlock(b)
		if err == nil {
			err = d.hashAt(b*BlockSize, data) // outside d.mu: reads of held blocks go on meanwhile
		}
		d.mu.Lock()
		if err != nil {
			d.unreserve(1)
			if retries < bodyRetries && d.ctx.Err() == nil && !isPrecondition(err) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, objfmt.ErrAuth) {
				retries++
				d.closeBody()
				continue
			}
			d.err = err
			d.running = false
			return
		}
		retries = 0
		if b >= d.furthest-keepBehind { // blocks skipped by a seek ahead are not kept
			d.blocks[b] = data
		} else {
			d.cfg.ReadAhead.recycle(data)
			d.unreserve(1)
		}
		d.next = b + 1
		d.cond.Broadcast()
	}
}

// hashAt feeds the bytes of data, the plaintext at off, that continue the
// SHA-256 in file order, if any.
func (d *Download) hashAt(off int64, data []byte) error {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	if off > d.hashed || off+int64(len(data)) <= d.hashed {
		return nil
	}
	return d.hash(data[d.hashed-off:])
}

// hash feeds the next bytes in file order to the SHA-256 and, at the end of
// the object, compares it with the one stored at upload.
func (d *Download) hash(data []byte) error {
	d.sum.Write(data)
	d.hashed += int64(len(data))
	if d.hashed == d.size && d.stored != "" && !strings.EqualFold(hex.EncodeToString(d.sum.Sum(nil)), d.stored) {
		return fmt.Errorf("read %s: %w", d.key, ErrCorrupt)
	}
	return nil
}

// readBlock reads block b from the stream's body, opening a GET at b if
// needed, and returns its plaintext.
func (d *Download) readBlock(b int64) ([]byte, error) {
	from, n := d.rawBlock(b)
	if d.body == nil {
		body, err := d.get(from, d.rawSize-1)
		if err != nil {
			return nil, err
		}
		d.body = body
	}
	var buf []byte
	if d.open == nil {
		buf = d.cfg.ReadAhead.block()[:n]
	} else {
		buf = d.cfg.ReadAhead.storedBlock()[:n] // stored chunks, opened into a block
		defer d.cfg.ReadAhead.recycle(buf)
	}
	if _, err := io.ReadFull(d.body, buf); err != nil {
		if d.open == nil {
			d.cfg.ReadAhead.recycle(buf)
		}
		return nil, fmt.Errorf("read %s at %d: %w", d.key, from, err)
	}
	if d.open == nil {
		return buf, nil
	}
	plain, err := d.open.obj.Open(d.cfg.ReadAhead.block()[:0], buf, b*BlockSize/objfmt.ChunkSize, d.open.finalIdx)
	if err != nil {
		d.cfg.ReadAhead.recycle(plain)
		return nil, fmt.Errorf("decrypt %s at %d: %w", d.key, b*BlockSize, err)
	}
	return plain, nil
}

// rawBlock is where plaintext block b is stored: its offset and length. An
// encrypted block is BlockSize/ChunkSize whole chunks.
func (d *Download) rawBlock(b int64) (from, n int64) {
	if d.open == nil {
		return b * BlockSize, min(BlockSize, d.size-b*BlockSize)
	}
	return b * storedBlockSize, min(storedBlockSize, d.rawSize-b*storedBlockSize)
}

// decrypt returns the plaintext of stored whole chunks beginning at plaintext
// offset off (a chunk boundary); nothing of a chunk that fails to authenticate.
func (d *Download) decrypt(stored []byte, off int64) ([]byte, error) {
	if d.open == nil {
		return stored, nil
	}
	plain, err := d.open.obj.Open(make([]byte, 0, len(stored)), stored, off/objfmt.ChunkSize, d.open.finalIdx)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s at %d: %w", d.key, off, err)
	}
	return plain, nil
}

func (d *Download) closeBody() {
	if d.body != nil {
		d.body.Close()
		d.body = nil
	}
}

// rangeRead serves a read far from the stream with its own ranged GET: of
// just the chunks holding the range, when the object is encrypted.
func (d *Download) rangeRead(p []byte, off int64) (int, error) {
	if d.open != nil {
		return d.chunkRead(p, off)
	}
	body, err := d.get(off, off+int64(len(p))-1)
	if err != nil {
		return 0, d.s.Failed("download", d.path, err, d.key)
	}
	defer body.Close()
	n, err := io.ReadFull(body, p)
	if err != nil {
		return n, d.s.Failed("download", d.path, fmt.Errorf("read %s at %d: %w", d.key, off, err), d.key)
	}
	return n, nil
}

// chunkRead fills p from plaintext offset off (p ends at or before the end
// of the object) with one ranged GET of the chunks that hold it.
func (d *Download) chunkRead(p []byte, off int64) (int, error) {
	sp := objfmt.SpanOf(off, int64(len(p)), d.size)
	body, err := d.get(sp.From, sp.To)
	if err != nil {
		return 0, d.s.Failed("download", d.path, err, d.key)
	}
	defer body.Close()
	stored := make([]byte, sp.To-sp.From+1)
	if _, err := io.ReadFull(body, stored); err != nil {
		return 0, d.s.Failed("download", d.path, fmt.Errorf("read %s at %d: %w", d.key, sp.From, err), d.key)
	}
	plain, err := d.decrypt(stored, sp.First*objfmt.ChunkSize)
	if err != nil {
		return 0, d.s.Failed("download", d.path, err, d.key)
	}
	return copy(p, plain[off-sp.First*objfmt.ChunkSize:]), nil
}

func (d *Download) get(from, to int64) (io.ReadCloser, error) {
	out, err := d.cfg.Store.Get(d.ctx, store.GetRequest{
		Bucket:  d.s.Bucket(),
		Key:     d.key,
		Range:   &store.Range{First: from, Last: to},
		IfMatch: d.etag,
	})
	if err != nil {
		return nil, fmt.Errorf("get %s bytes %d-%d: %w", d.key, from, to, err)
	}
	// Some S3-compatible stores ignore If-Match; check the ETag here too.
	if d.etag != "" && out.ETag != "" && out.ETag != d.etag {
		out.Body.Close()
		return nil, fmt.Errorf("get %s: ETag %s, opened as %s: %w", d.key, out.ETag, d.etag, ErrChanged)
	}
	return out.Body, nil
}

// TransferError is called by pkg/sftp when the connection broke with the
// file open: the download is recorded as aborted.
func (d *Download) TransferError(error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.aborted = true
}

// Close stops the stream, and logs and records the transfer.
func (d *Download) Close() error {
	if d.releaseSlot != nil {
		d.releaseSlot()
	}
	d.cancel()
	d.mu.Lock()
	d.cond.Broadcast()
	d.mu.Unlock()
	d.wg.Wait()
	d.mu.Lock()
	d.closeBody()
	for _, data := range d.blocks {
		d.cfg.ReadAhead.recycle(data)
	}
	clear(d.blocks)
	d.unreserve(d.held / BlockSize)
	sent, err, aborted := d.sent, d.err, d.aborted
	d.mu.Unlock()
	attrs := []slog.Attr{slog.String("path", d.s.Name(d.path)), slog.Int64("bytes", sent),
		slog.Int64("dur_ms", time.Since(d.started).Milliseconds())}
	if errors.Is(err, context.Canceled) {
		err = nil // stopped by Close, not failed
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", d.s.Cause(err, d.key)))
	}
	d.s.Logger().LogAttrs(d.s.Context(), slog.LevelInfo, "download closed", attrs...)

	r := audit.Record{Event: audit.EventClose, Mode: "read", Path: d.path, Key: d.key, Bytes: audit.Int(sent),
		ETag: strings.Trim(d.etag, `"`), VersionID: d.versionID, DurMS: audit.Since(d.started)}
	d.hmu.Lock()
	if d.hashed == d.size && sent >= d.size { // the whole object went to the client
		r.SHA256 = hex.EncodeToString(d.sum.Sum(nil))
	}
	d.hmu.Unlock()
	if aborted {
		r.Result = audit.ResultAborted
	}
	if err != nil {
		err = d.s.Failed("download", d.path, err, d.key)
	}
	if d.s.Record(r, err) == nil && err == nil && !aborted && r.SHA256 != "" && d.pickUp {
		pickup.After(d.s.Context(), d.cfg.Store, d.s, d.s.Bucket(), d.etag, r)
	}
	return nil
}
