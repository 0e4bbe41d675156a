package s3fs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

const (
	blockSize   = 1 << 20 // unit of read-ahead and caching
	readAhead   = 8       // blocks fetched ahead of the furthest read
	keepBehind  = 4       // blocks kept behind it for late, out-of-order reads
	farBlocks   = 32      // a read further ahead than this is a seek, not a stream
	bodyRetries = 3       // times a broken GET body is resumed with a ranged GET
)

// download is an io.ReaderAt over one object. Clients pipeline reads at
// ascending offsets, several at once and slightly out of order; once two
// reads run in sequence they are served from one streaming GET that runs a
// few blocks ahead, as far as the read-ahead budget and the user's share of
// it allow (readahead.go). Before that, and whenever the budget is full, a
// read gets its own ranged GET of just its bytes, as does a read far from
// the stream (a seek, or reget's resume). Every GET
// carries If-Match on the ETag seen at open, so a file replaced mid-download
// fails the read instead of splicing two versions together.
type download struct {
	h         *handlers
	path, key string
	etag      string
	versionID string
	size      int64   // plaintext size, what the client sees
	rawSize   int64   // stored size
	open      *opener // decrypts an envelope-encrypted object; nil: stored as plaintext
	started   time.Time
	// releaseSlot gives back the session's open-file slot, at Close.
	releaseSlot func()

	// SHA-256 of the object, fed under mu by the stream and by direct reads
	// with the bytes that continue it in file order. When it differs from
	// the one stored at upload, the bytes that complete it are withheld.
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

// newDownload reads the object of head; op and size come from openerFor.
func (h *handlers) newDownload(path, key string, head store.Object, op *opener, size int64) *download {
	ctx, cancel := context.WithCancel(h.ctx)
	d := &download{
		h: h, path: path, key: key, etag: head.ETag, versionID: head.VersionID,
		size: size, rawSize: head.Size, open: op,
		sum: sha256.New(), started: time.Now(), ctx: ctx, cancel: cancel, blocks: make(map[int64][]byte), want: -1,
	}
	d.cond = sync.NewCond(&d.mu)
	if op == nil { // an encrypted object's chunks authenticate themselves (see sha256Metadata)
		d.stored = h.storedSHA256(key, head)
	}
	return d
}

// ReadAt fills p from offset off; at the end of the object it returns io.EOF.
func (d *download) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), d.size)
	first, last := off/blockSize, (end-1)/blockSize

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
				return n, d.h.s3Failure("download", d.path, d.err, d.key)
			}
			// evicted while we waited, or the stream stopped (out of
			// read-ahead memory, or the session is ending): fetch the rest
			// directly
			starved := d.starved
			d.sent += int64(n)
			m, err := d.direct(p[n:end-off], off+int64(n), starved)
			return n + m, err
		}
		from := max(off-b*blockSize, 0)
		n += copy(p[n:end-off], data[from:])
	}
	d.evict()
	d.sent += int64(n)
	return d.eof(n, off, nil)
}

// sequential notes a read made before the stream started and reports
// whether reads now run in sequence: this one began within a block of where
// an earlier one ended (pipelined reads arrive slightly out of order).
func (d *download) sequential(off, end int64) bool {
	seq := d.reads > 0 && off >= d.reach-blockSize && off <= d.reach+blockSize
	d.reads++
	d.reach = max(d.reach, end)
	return seq
}

// direct serves p at off with its own ranged GET, outside the stream.
// starved says the stream had no memory for it: the time goes to the
// metrics. d.mu is held on entry and on return, not during the GET.
func (d *download) direct(p []byte, off int64, starved bool) (int, error) {
	d.mu.Unlock()
	start := time.Now()
	n, err := d.rangeRead(p, off)
	if starved {
		d.h.fs.throttled(ThrottledReadAheadMemory, time.Since(start))
	}
	d.mu.Lock()
	if err == nil {
		if err = d.hashAt(off, p[:n]); err != nil { // a small file read in one go is checked too
			d.err = err
			return 0, d.h.s3Failure("download", d.path, err, d.key)
		}
	}
	d.sent += int64(n)
	return d.eof(n, off, err)
}

// reserve takes one block of read-ahead memory from the budget and the
// user's share, if free now.
func (d *download) reserve() bool {
	if !d.h.fs.readAhead.tryReserve(d.h.tenant.User, d.h.tenant.Limits.ReadAheadMemory, blockSize) {
		return false
	}
	d.held += blockSize
	return true
}

// unreserve returns the memory of n blocks.
func (d *download) unreserve(n int64) {
	d.h.fs.readAhead.release(d.h.tenant.User, n*blockSize)
	d.held -= n * blockSize
}

// eof adds io.EOF when a read reached the end of the object.
func (d *download) eof(n int, off int64, err error) (int, error) {
	if err == nil && off+int64(n) >= d.size {
		err = io.EOF
	}
	return n, err
}

// evict drops blocks too far behind the furthest read to be asked for again.
func (d *download) evict() {
	for b := range d.blocks {
		if b < d.furthest-keepBehind {
			delete(d.blocks, b)
			d.unreserve(1)
		}
	}
	d.cond.Broadcast()
}

func (d *download) startStream() {
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
func (d *download) stream() {
	defer d.wg.Done()
	retries := 0
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.cond.Broadcast() // readers waiting for a block it will not fetch now read it themselves
	for {
		for d.next > d.want && d.ctx.Err() == nil {
			d.cond.Wait()
		}
		if d.ctx.Err() != nil || d.next*blockSize >= d.size {
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
		d.mu.Lock()
		if err == nil {
			err = d.hashAt(b*blockSize, data)
		}
		if err != nil {
			d.unreserve(1)
			if retries < bodyRetries && d.ctx.Err() == nil && !isPrecondition(err) && !errors.Is(err, errCorrupt) && !errors.Is(err, objfmt.ErrAuth) {
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
			d.unreserve(1)
		}
		d.next = b + 1
		d.cond.Broadcast()
	}
}

// hashAt feeds the bytes of data, the plaintext at off, that continue the
// SHA-256 in file order, if any. d.mu is held.
func (d *download) hashAt(off int64, data []byte) error {
	if off > d.hashed || off+int64(len(data)) <= d.hashed {
		return nil
	}
	return d.hash(data[d.hashed-off:])
}

// hash feeds the next bytes in file order to the SHA-256 and, at the end of
// the object, compares it with the one stored at upload.
func (d *download) hash(data []byte) error {
	d.sum.Write(data)
	d.hashed += int64(len(data))
	if d.hashed == d.size && d.stored != "" && !strings.EqualFold(hex.EncodeToString(d.sum.Sum(nil)), d.stored) {
		return fmt.Errorf("read %s: %w", d.key, errCorrupt)
	}
	return nil
}

// readBlock reads block b from the stream's body, opening a GET at b if
// needed, and returns its plaintext.
func (d *download) readBlock(b int64) ([]byte, error) {
	from, n := d.rawBlock(b)
	if d.body == nil {
		body, err := d.get(from, d.rawSize-1)
		if err != nil {
			return nil, err
		}
		d.body = body
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(d.body, buf); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", d.key, from, err)
	}
	return d.decrypt(buf, b*blockSize)
}

// rawBlock is where plaintext block b is stored: its offset and length. An
// encrypted block is blockSize/ChunkSize whole chunks.
func (d *download) rawBlock(b int64) (from, n int64) {
	if d.open == nil {
		return b * blockSize, min(blockSize, d.size-b*blockSize)
	}
	const stored = blockSize / objfmt.ChunkSize * objfmt.CipherChunkSize
	return b * stored, min(stored, d.rawSize-b*stored)
}

// decrypt returns the plaintext of stored whole chunks beginning at plaintext
// offset off (a chunk boundary); nothing of a chunk that fails to authenticate.
func (d *download) decrypt(stored []byte, off int64) ([]byte, error) {
	if d.open == nil {
		return stored, nil
	}
	plain, err := d.open.obj.Open(make([]byte, 0, len(stored)), stored, off/objfmt.ChunkSize, d.open.finalIdx)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s at %d: %w", d.key, off, err)
	}
	return plain, nil
}

func (d *download) closeBody() {
	if d.body != nil {
		d.body.Close()
		d.body = nil
	}
}

// rangeRead serves a read far from the stream with its own ranged GET: of
// just the chunks holding the range, when the object is encrypted.
func (d *download) rangeRead(p []byte, off int64) (int, error) {
	if d.open != nil {
		return d.chunkRead(p, off)
	}
	body, err := d.get(off, off+int64(len(p))-1)
	if err != nil {
		return 0, d.h.s3Failure("download", d.path, err, d.key)
	}
	defer body.Close()
	n, err := io.ReadFull(body, p)
	if err != nil {
		return n, d.h.s3Failure("download", d.path, fmt.Errorf("read %s at %d: %w", d.key, off, err), d.key)
	}
	return n, nil
}

// chunkRead fills p from plaintext offset off (p ends at or before the end
// of the object) with one ranged GET of the chunks that hold it.
func (d *download) chunkRead(p []byte, off int64) (int, error) {
	sp := objfmt.SpanOf(off, int64(len(p)), d.size)
	body, err := d.get(sp.From, sp.To)
	if err != nil {
		return 0, d.h.s3Failure("download", d.path, err, d.key)
	}
	defer body.Close()
	stored := make([]byte, sp.To-sp.From+1)
	if _, err := io.ReadFull(body, stored); err != nil {
		return 0, d.h.s3Failure("download", d.path, fmt.Errorf("read %s at %d: %w", d.key, sp.From, err), d.key)
	}
	plain, err := d.decrypt(stored, sp.First*objfmt.ChunkSize)
	if err != nil {
		return 0, d.h.s3Failure("download", d.path, err, d.key)
	}
	return copy(p, plain[off-sp.First*objfmt.ChunkSize:]), nil
}

func (d *download) get(from, to int64) (io.ReadCloser, error) {
	out, err := d.h.fs.obj.Get(d.ctx, store.GetRequest{
		Bucket:  d.h.home.Bucket,
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
		return nil, fmt.Errorf("get %s: ETag %s, opened as %s: %w", d.key, out.ETag, d.etag, errChanged)
	}
	return out.Body, nil
}

// TransferError is called by pkg/sftp when the connection broke with the
// file open: the download is recorded as aborted.
func (d *download) TransferError(error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.aborted = true
}

// Close stops the stream, and logs and records the transfer.
func (d *download) Close() error {
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
	clear(d.blocks)
	d.unreserve(d.held / blockSize)
	sent, err, aborted := d.sent, d.err, d.aborted
	d.mu.Unlock()
	attrs := []slog.Attr{slog.String("path", d.h.audit.Name(d.path)), slog.Int64("bytes", sent),
		slog.Int64("dur_ms", time.Since(d.started).Milliseconds())}
	if errors.Is(err, context.Canceled) {
		err = nil // stopped by Close, not failed
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", d.h.cause(err, d.key)))
	}
	d.h.log.LogAttrs(d.h.ctx, slog.LevelInfo, "download closed", attrs...)

	r := audit.Record{Event: audit.EventClose, Mode: "read", Path: d.path, Key: d.key, Bytes: audit.Int(sent),
		ETag: etag(d.etag), VersionID: d.versionID, DurMS: audit.Since(d.started)}
	if d.hashed == d.size && sent >= d.size { // the whole object went to the client
		r.SHA256 = hex.EncodeToString(d.sum.Sum(nil))
	}
	if aborted {
		r.Result = audit.ResultAborted
	}
	if err != nil {
		err = d.h.s3Failure("download", d.path, err, d.key)
	}
	d.h.record(r, err)
	return nil
}
