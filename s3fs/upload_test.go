package s3fs

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
)

// openUpload opens an upload writer the way pkg/sftp does for a client's open.
func openUpload(t *testing.T, e *env, ctx context.Context, path string) *upload.Upload {
	t.Helper()
	tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: "u/", Perms: auth.AllPerms}
	h := e.fs.Handlers(ctx, tenant, testLog(), nil).FilePut
	r := sftp.NewRequest("Put", path)
	r.Flags = 0x1a // WRITE|CREAT|TRUNC
	w, err := h.Filewrite(r)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return w.(boundary.Writer).U
}

// TestUpload_ConcurrentOutOfOrder writes 32 KiB chunks from 8 goroutines in a
// shuffled order, as pkg/sftp's workers do, and checks S3 holds the exact bytes.
func TestUpload_ConcurrentOutOfOrder(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	data := randBytes(23<<20 + 777)
	u := openUpload(t, e, context.Background(), "/big.bin")
	const chunk = 32 << 10
	var offs []int64
	for off := int64(0); off < int64(len(data)); off += chunk {
		offs = append(offs, off)
	}
	// A client keeps at most 64 writes outstanding (OpenSSH's default); the
	// server's 8 workers run them in any order.
	const outstanding = 64
	var failed atomic.Value
	for i := 0; i < len(offs); i += outstanding {
		window := offs[i:min(i+outstanding, len(offs))]
		rand.Shuffle(len(window), func(a, b int) { window[a], window[b] = window[b], window[a] })
		work := make(chan int64)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, chunk)
				for off := range work {
					n := copy(buf, data[off:min(off+chunk, int64(len(data)))])
					if _, err := u.WriteAt(buf[:n], off); err != nil {
						failed.Store(err)
					}
					clear(buf) // pkg/sftp reuses buffers: the writer must have copied
				}
			}()
		}
		for _, off := range window {
			work <- off
		}
		close(work)
		wg.Wait()
	}
	if err := failed.Load(); err != nil {
		t.Fatalf("WriteAt: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, ok := e.s3.Get(t, "u/big.bin")
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes (exists %v); want the %d bytes written", len(got), ok, len(data))
	}
	if n := e.fs.UploadMemoryInUse(); n != 0 {
		t.Errorf("UploadMemoryInUse = %d after Close; want 0 (all returned to the budget)", n)
	}
}

// faultyS3 fails chosen calls of the real client.
type faultyS3 struct {
	store.Objects
	failPart int32 // UploadPart with this part number fails
	calls    atomic.Int32
}

var errInjected = errors.New("injected fault")

func (f *faultyS3) UploadPart(ctx context.Context, r store.PartRequest) (store.Part, error) {
	f.calls.Add(1)
	if r.Number == f.failPart {
		return store.Part{}, errInjected
	}
	return f.Objects.UploadPart(ctx, r)
}

func TestUpload_FailsClosed(t *testing.T) {
	old := []byte("previous version")
	tests := []struct {
		name  string
		size  int
		fault func(e *env) // makes the upload fail
		close func(u *upload.Upload) error
	}{
		{"part-fails", 18 << 20, func(e *env) { e.through(&faultyS3{Objects: e.obj, failPart: 2}) },
			func(u *upload.Upload) error { return u.Close() }},
		{"disconnect-multipart", 18 << 20, func(*env) {},
			func(u *upload.Upload) error { u.TransferError(errors.New("EOF")); return u.Close() }},
		{"disconnect-small", 1000, func(*env) {},
			func(u *upload.Upload) error { u.TransferError(errors.New("EOF")); return u.Close() }},
		{"session-cancelled", 18 << 20, func(*env) {}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ChecksumsCompat)
			e.s3.Put(t, "u/f.bin", old)
			tt.fault(e)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			u := openUpload(t, e, ctx, "/f.bin")
			data := randBytes(tt.size)
			for off := 0; off < len(data); off += 32 << 10 {
				if _, err := u.WriteAt(data[off:min(off+32<<10, len(data))], int64(off)); err != nil {
					break // a failed part may already refuse writes
				}
			}
			var err error
			if tt.close == nil {
				cancel()
				err = u.Close()
			} else {
				err = tt.close(u)
			}
			if err == nil {
				t.Fatalf("Close = nil; want an error")
			}
			if got, _ := e.s3.Get(t, "u/f.bin"); !bytes.Equal(got, old) {
				t.Errorf("object = %d bytes; want the previous version untouched", len(got))
			}
			if ups := e.s3.MultipartUploads(t); len(ups) != 0 {
				t.Errorf("multipart uploads left: %v; want all aborted", ups)
			}
		})
	}
}

func TestUpload_GapsAreRefused(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	u := openUpload(t, e, context.Background(), "/gap.bin")
	if _, err := u.WriteAt([]byte("tail"), 100); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err == nil {
		t.Fatalf("Close of a file with a hole = nil; want an error")
	}
	if _, ok := e.s3.Get(t, "u/gap.bin"); ok {
		t.Errorf("object with a hole was stored")
	}
}

func TestUpload_NoOverwritePermission(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.s3.Put(t, "w/exists.txt", []byte("keep"))
	c := e.session(t, "w/", auth.PermWrite)
	if err := writeFile(t, c, "/exists.txt", []byte("new")); !errors.Is(err, os.ErrPermission) {
		t.Errorf("overwrite without permission = %v; want permission denied", err)
	}
	if got, _ := e.s3.Get(t, "w/exists.txt"); string(got) != "keep" {
		t.Errorf("object = %q; want keep", got)
	}
	if err := writeFile(t, c, "/new.txt", []byte("dropped")); err != nil {
		t.Fatalf("upload to drop box: %v", err)
	}
	if fi, err := c.Stat("/new.txt"); err != nil || fi.Size() != 7 {
		t.Errorf("stat of own upload in a write-only session = %v, %v; want size 7", fi, err)
	}
	if _, err := c.Stat("/exists.txt"); err == nil {
		t.Errorf("stat of another file in a write-only session succeeded; want refused")
	}
	if _, err := c.ReadDir("/"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("list in a write-only session = %v; want permission denied", err)
	}
	if _, err := c.Open("/new.txt"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("download in a write-only session = %v; want permission denied", err)
	}
}

// TestUpload_WriteOnlyLearnsNoNames: a user without list or read is told
// "no such file" by stat for a file it did not upload, so no other answer
// says that a file has the name: a refused overwrite says only that the name
// cannot be overwritten, mkdir that the name cannot be used, rmdir and
// setstat "no such file" as stat does.
func TestUpload_WriteOnlyLearnsNoNames(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.s3.Put(t, "w/taken.txt", []byte("keep"))
	tenant := &auth.Tenant{User: "drop", Bucket: e.s3.Bucket, Prefix: "w/", Perms: auth.PermWrite | auth.PermMkdir | auth.PermDelete}
	h := e.fs.Handlers(context.Background(), tenant, testLog(), nil) // the errors as pkg/sftp sends them
	req := func(method string) *sftp.Request {
		r := sftp.NewRequest(method, "/taken.txt")
		r.Flags = 0x1a // WRITE|CREAT|TRUNC
		return r
	}
	if _, err := h.FileList.Filelist(req("Stat")); !errors.Is(err, sftp.ErrSSHFxNoSuchFile) {
		t.Fatalf("stat of another's file in a write-only session = %v; want no such file", err)
	}
	_, upErr := h.FilePut.Filewrite(req("Put"))
	answers := map[string]error{"upload": upErr, "mkdir": h.FileCmd.Filecmd(req("Mkdir")), "rmdir": h.FileCmd.Filecmd(req("Rmdir"))}
	for op, err := range answers {
		if err == nil {
			t.Errorf("%s onto an existing file in a write-only session succeeded", op)
		} else if msg := err.Error(); strings.Contains(msg, "exists") || strings.Contains(msg, "a file has") || strings.Contains(msg, "not a directory") {
			t.Errorf("%s answers %q: it tells a user who cannot list that the file exists", op, msg)
		}
	}
	if err := answers["upload"]; !errors.Is(err, sftp.ErrSSHFxPermissionDenied) || !strings.Contains(err.Error(), "cannot be overwritten") {
		t.Errorf("upload onto an existing file = %v; want permission denied, cannot be overwritten", err)
	}
	if !errors.Is(answers["rmdir"], sftp.ErrSSHFxNoSuchFile) {
		t.Errorf("rmdir of a file = %v; want no such file, as stat says", answers["rmdir"])
	}
	c := e.session(t, "w/", tenant.Perms)
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := c.Chtimes("/taken.txt", when, when); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("setstat of a time on another's file = %v; want no such file, as stat says", err)
	}
	if err := writeFile(t, c, "/mine.txt", []byte("mine")); err != nil {
		t.Fatal(err)
	}
	if err := c.Chtimes("/mine.txt", when, when); err != nil {
		t.Errorf("setstat of a time on its own upload = %v; want accepted", err)
	}
	if got, _ := e.s3.Get(t, "w/taken.txt"); string(got) != "keep" {
		t.Errorf("object = %q; want keep", got)
	}
}

// stalledS3 holds every UploadPart until release is closed.
type stalledS3 struct {
	store.Objects
	release chan struct{}
	waiting atomic.Int32
}

func (s *stalledS3) UploadPart(ctx context.Context, r store.PartRequest) (store.Part, error) {
	s.waiting.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
		return store.Part{}, ctx.Err()
	}
	return s.Objects.UploadPart(ctx, r)
}

// TestUpload_SlowS3SlowsTheClient: when S3 takes parts slower than the client
// sends, the upload stops taking writes after a few parts instead of buffering
// the file into the process-wide budget that other sessions share.
func TestUpload_SlowS3SlowsTheClient(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.fs.budget = 40 * minPartSize
	e.fs.mem = upload.NewBudget(e.fs.budget)
	e.fs.memShare = e.fs.budget
	stall := &stalledS3{Objects: e.obj, release: make(chan struct{})}
	e.through(stall)
	data := randBytes(20 * minPartSize)
	u := openUpload(t, e, context.Background(), "/slow.bin")

	var accepted atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); off += 32 << 10 {
			if _, err := u.WriteAt(data[off:min(off+32<<10, len(data))], int64(off)); err != nil {
				wrote <- err
				return
			}
			accepted.Store(int64(off + 32<<10))
		}
		wrote <- nil
	}()
	// Wait until the writer has stopped moving.
	for last := int64(-1); ; time.Sleep(100 * time.Millisecond) {
		n := accepted.Load()
		if n == last {
			break
		}
		last = n
	}
	bound := int64(upload.PartsInFlight+1)*minPartSize + upload.MaxAhead
	if n := accepted.Load(); n > bound {
		t.Errorf("with S3 stalled, the upload took %d MiB from the client; want at most %d MiB", n>>20, bound>>20)
	}
	if n := stall.waiting.Load(); n != upload.PartsInFlight {
		t.Errorf("%d parts waiting on S3; want %d", n, upload.PartsInFlight)
	}
	if n := e.fs.UploadMemoryInUse(); n < upload.PartsInFlight*minPartSize || n > (upload.PartsInFlight+1)*minPartSize {
		t.Errorf("UploadMemoryInUse = %d MiB while stalled; want %d to %d MiB", n>>20, upload.PartsInFlight*minPartSize>>20, (upload.PartsInFlight+1)*minPartSize>>20)
	}

	close(stall.release)
	if err := <-wrote; err != nil {
		t.Fatalf("WriteAt: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, _ := e.s3.Get(t, "u/slow.bin"); !bytes.Equal(got, data) {
		t.Errorf("stored %d bytes; want the %d bytes written", len(got), len(data))
	}
	if n := e.fs.UploadMemoryInUse(); n != 0 {
		t.Errorf("UploadMemoryInUse = %d after Close; want 0", n)
	}
}
