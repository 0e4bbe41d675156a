package s3fs

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/store"
)

// TestDownload_IdleHandlesHoldNoReadAhead: handles opened and read once
// (the review's 50 handles reading 1 byte each) start no stream and hold no
// read-ahead memory; the second read in sequence starts it.
func TestDownload_IdleHandlesHoldNoReadAhead(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	data := randBytes(12 << 20)
	e.s3.Put(t, "u/big.bin", data)
	c := e.session(t, "u/", auth.AllPerms)
	buf := make([]byte, 1)
	for i := range 50 {
		f, err := c.Open("/big.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(buf, int64(i)); err != nil || buf[0] != data[i] {
			t.Fatalf("read 1 byte at %d: %v, %x; want %x", i, err, buf[0], data[i])
		}
	}
	time.Sleep(200 * time.Millisecond) // a stream, if one had started, would be reading ahead now
	if got := e.fs.ReadAheadMemoryInUse(); got != 0 {
		t.Errorf("50 handles read 1 byte each: read-ahead holds %d bytes; want 0", got)
	}

	f, err := c.Open("/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := make([]byte, 32<<10)
	for off := int64(0); off < 2*int64(len(p)); off += int64(len(p)) {
		if _, err := f.ReadAt(p, off); err != nil || !bytes.Equal(p, data[off:off+int64(len(p))]) {
			t.Fatalf("read at %d: %v, or wrong bytes", off, err)
		}
	}
	if got := e.fs.ReadAheadMemoryInUse(); got == 0 {
		t.Errorf("after two reads in sequence read-ahead holds nothing; want a stream running ahead")
	}
}

// TestDownload_ReadAheadWithinShare: a user's open files together never hold
// more read-ahead than the user's share (nor all users more than the
// budget); reads beyond it are served directly, correctly, and counted as
// throttled; another user's stream is unaffected.
func TestDownload_ReadAheadWithinShare(t *testing.T) {
	for _, tc := range []struct {
		name         string
		total, share int64
	}{
		{"user-share", 64 << 20, 3 << 20},
		{"process-budget", 2 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ChecksumsCompat)
			e.fs.readAhead = download.NewReadAhead(tc.total)
			var throttled atomic.Int64
			e.fs.onThrottle = func(reason string, d time.Duration) {
				if reason == ThrottledReadAheadMemory {
					throttled.Add(int64(d))
				}
			}
			data := randBytes(10<<20 + 777)
			e.s3.Put(t, "u/big.bin", data)
			greedy := &auth.Tenant{User: "greedy", Bucket: e.s3.Bucket, Prefix: "u/", Perms: auth.AllPerms,
				Limits: auth.Limits{ReadAheadMemory: tc.share}}
			c := e.tenantSession(t, greedy, nil, testLog())

			stop := make(chan struct{})
			var peak atomic.Int64
			var watch sync.WaitGroup
			watch.Go(func() {
				for {
					n := e.fs.readAhead.Held("greedy")
					peak.Store(max(peak.Load(), n))
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			})
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					if got := readFile(t, c, "/big.bin"); !bytes.Equal(got, data) {
						t.Errorf("downloaded %d bytes differ from the %d stored", len(got), len(data))
					}
				})
			}
			wg.Wait()
			close(stop)
			watch.Wait()
			limit := tc.share
			if limit == 0 {
				limit = tc.total
			}
			if got := peak.Load(); got > limit {
				t.Errorf("3 downloads held %d bytes of read-ahead; want at most %d", got, limit)
			}
			if throttled.Load() == 0 {
				t.Errorf("no time counted as throttled by read-ahead memory")
			}
			if got := e.fs.ReadAheadMemoryInUse(); got != 0 {
				t.Errorf("after every file closed, read-ahead holds %d bytes; want 0", got)
			}

			if tc.share > 0 { // another user still streams with read-ahead
				other := &auth.Tenant{User: "other", Bucket: e.s3.Bucket, Prefix: "u/", Perms: auth.AllPerms}
				oc := e.tenantSession(t, other, nil, testLog())
				f, err := oc.Open("/big.bin")
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				p := make([]byte, 32<<10)
				for off := int64(0); off < 2*int64(len(p)); off += int64(len(p)) {
					if _, err := f.ReadAt(p, off); err != nil && err != io.EOF {
						t.Fatal(err)
					}
				}
				time.Sleep(100 * time.Millisecond)
				n := e.fs.readAhead.Held("other")
				if n <= 1<<20 {
					t.Errorf("another user's stream holds %d bytes of read-ahead; want several blocks", n)
				}
			}
		})
	}
}

// cancelAfterStreamBlock cancels the session right after the streaming GET
// (the one reading to the end) delivered its first block: a session ending
// between two blocks of the stream.
type cancelAfterStreamBlock struct {
	store.Objects
	cancel context.CancelFunc
}

func (c *cancelAfterStreamBlock) Get(ctx context.Context, r store.GetRequest) (store.Reading, error) {
	out, err := c.Objects.Get(ctx, r)
	if err == nil && out.Size > download.BlockSize { // the stream's, not a direct read's
		out.Body = &cancelAt{ReadCloser: out.Body, left: download.BlockSize, cancel: c.cancel}
	}
	return out, err
}

type cancelAt struct {
	io.ReadCloser
	left   int64
	cancel context.CancelFunc
}

func (r *cancelAt) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p[:min(int64(len(p)), max(r.left, 1))])
	if r.left -= int64(n); r.left <= 0 {
		r.cancel()
	}
	return n, err
}

// TestDownload_SessionEndsBetweenBlocks: a read waiting for the stream's next
// block returns when the session ends between two blocks, instead of
// waiting for ever (which kept the gateway from shutting down).
func TestDownload_SessionEndsBetweenBlocks(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	data := randBytes(4 << 20)
	e.s3.Put(t, "u/f.bin", data)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.through(&cancelAfterStreamBlock{Objects: e.obj, cancel: cancel})
	tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: "u/", Perms: auth.AllPerms}
	h := e.fs.Handlers(ctx, tenant, testLog(), nil).FileGet
	ra, err := h.Fileread(sftp.NewRequest("Get", "/f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer ra.(io.Closer).Close()
	p := make([]byte, 32<<10)
	if _, err := ra.ReadAt(p, 0); err != nil {
		t.Fatalf("first read: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ra.ReadAt(p, download.BlockSize-16<<10) // in sequence: starts the stream; spans blocks 0 and 1
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("read across the session's end: err = nil; want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read waiting for the next block still waits 10s after the session ended")
	}
}

// TestDownload_ReusesBlockBuffers: a stream fills the blocks it dropped
// behind the reads again, rather than a fresh 1 MiB buffer per block: a
// 64 MiB download allocates well under its size (it was 64 MiB of blocks
// alone, all zeroed and collected), and what arrives is still the file, in
// plaintext and envelope-encrypted alike.
func TestDownload_ReusesBlockBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) *env
	}{
		{"plaintext", func(t *testing.T) *env { return newEnv(t, ChecksumsCompat) }},
		{"envelope", func(t *testing.T) *env { e, _ := newEnvelopeEnv(t); return e }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.env(t)
			data := randBytes(64 << 20)
			tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: "u/", Perms: auth.AllPerms}
			h := e.fs.Handlers(t.Context(), tenant, testLog(), nil)
			w, err := h.FilePut.Filewrite(sftp.NewRequest("Put", "/big.bin"))
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off < len(data); off += 1 << 20 {
				if _, err := w.WriteAt(data[off:off+1<<20], int64(off)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.(io.Closer).Close(); err != nil {
				t.Fatal(err)
			}

			r, err := h.FileGet.Fileread(sftp.NewRequest("Get", "/big.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer r.(io.Closer).Close()
			p := make([]byte, 255<<10)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for off := 0; off < len(data); {
				n, err := r.ReadAt(p, int64(off))
				if !bytes.Equal(p[:n], data[off:off+n]) {
					t.Fatalf("read at %d: wrong bytes", off)
				}
				if off += n; err != nil && (err != io.EOF || off != len(data)) {
					t.Fatalf("read at %d: %v", off, err)
				}
			}
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 && !raceEnabled {
				t.Errorf("a 64 MiB download allocated %d MiB; want under 32 MiB (its blocks reused)", got>>20)
			}
		})
	}
}
