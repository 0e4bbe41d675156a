package s3fs

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
)

// openUploadAs opens path for writing as tenant, the way pkg/sftp does.
func openUploadAs(t *testing.T, e *env, tenant *auth.Tenant, path string) (*upload.Upload, error) {
	t.Helper()
	h := e.fs.Handlers(t.Context(), tenant, testLog(), nil).FilePut
	r := sftp.NewRequest("Put", path)
	r.Flags = 0x1a // WRITE|CREAT|TRUNC
	w, err := h.Filewrite(r)
	if err != nil {
		return nil, err
	}
	return w.(boundary.Writer).U, nil
}

// TestUpload_UserAtShareWaitsOthersGoOn: one user fills its share with
// files it never finishes (one of them may finish its part past the share);
// its next write fails after the bound with a plain message, and another
// user's upload goes through meanwhile.
func TestUpload_UserAtShareWaitsOthersGoOn(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.fs.budget, e.fs.memShare, e.fs.memWait = 40<<20, 21<<20, 300*time.Millisecond
	e.fs.mem = upload.NewBudget(e.fs.budget)
	var throttled sync.Map // reason → total wait, as the metrics get it
	e.fs.onThrottle = func(reason string, d time.Duration) {
		v, _ := throttled.LoadOrStore(reason, new(atomic.Int64))
		v.(*atomic.Int64).Add(int64(d))
	}
	hog := &auth.Tenant{User: "hog", Bucket: e.s3.Bucket, Prefix: "hog/", Perms: auth.AllPerms}
	chunk := randBytes(32 << 10)
	var refused error
	for i := range 8 {
		u, err := openUploadAs(t, e, hog, "/f"+string(rune('0'+i)))
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		for off := int64(0); off < 4<<20 && refused == nil; off += int64(len(chunk)) {
			_, refused = u.WriteAt(chunk, off)
		}
	}
	if refused == nil || !strings.Contains(refused.Error(), "this user's other uploads and open files hold all the upload memory it may use") {
		t.Errorf("hog's write past its share: got %v; want the share message", refused)
	}
	if v, ok := throttled.Load(ThrottledUploadMemory); !ok || time.Duration(v.(*atomic.Int64).Load()) < e.fs.memWait {
		t.Errorf("throttled time for %q: want at least the %v the refused write waited", ThrottledUploadMemory, e.fs.memWait)
	}
	// one of its uploads may finish its 5 MiB part past the share
	if held, most := e.fs.mem.Held("hog"), e.fs.memShare+minPartSize; held > most {
		t.Errorf("hog holds %d MiB; want at most its %d MiB share and one part", held>>20, most>>20)
	}

	victim := &auth.Tenant{User: "victim", Bucket: e.s3.Bucket, Prefix: "victim/", Perms: auth.AllPerms}
	u, err := openUploadAs(t, e, victim, "/six.bin")
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(6 << 20)
	done := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); off += 32 << 10 {
			if _, err := u.WriteAt(data[off:off+32<<10], int64(off)); err != nil {
				done <- err
				return
			}
		}
		done <- u.Close()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("victim's upload: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("victim's 6 MiB upload still blocked after 30s while another user holds its share")
	}
	if got, _ := e.s3.Get(t, "victim/six.bin"); !bytes.Equal(got, data) {
		t.Errorf("stored %d bytes; want the victim's %d", len(got), len(data))
	}
}

// TestHandlers_MaxOpenFiles: a session opens at most MaxOpenFiles files,
// reads and writes together; closing one makes room again.
func TestHandlers_MaxOpenFiles(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.s3.Put(t, "u/in.txt", []byte("hello"))
	tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: "u/", Perms: auth.AllPerms, Limits: auth.Limits{MaxOpenFiles: 3}}
	hs := e.fs.Handlers(t.Context(), tenant, testLog(), nil)
	write := func(p string) (*upload.Upload, error) {
		r := sftp.NewRequest("Put", p)
		r.Flags = 0x1a
		w, err := hs.FilePut.Filewrite(r)
		if err != nil {
			return nil, err
		}
		return w.(boundary.Writer).U, nil
	}
	read := func() (*download.Download, error) {
		r := sftp.NewRequest("Get", "/in.txt")
		r.Flags = 0x1
		rd, err := hs.FileGet.Fileread(r)
		if err != nil {
			return nil, err
		}
		return rd.(boundary.Reader).D.(*download.Download), nil
	}
	a, err := write("/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := write("/b"); err != nil {
		t.Fatal(err)
	}
	d, err := read()
	if err != nil {
		t.Fatal(err)
	}
	const msg = "open refused: this session already has 3 files open, the most allowed; close some first"
	if _, err := write("/c"); err == nil || err.Error() != msg {
		t.Errorf("4th open for writing: got %v; want %q", err, msg)
	}
	if _, err := read(); err == nil || err.Error() != msg {
		t.Errorf("4th open for reading: got %v; want %q", err, msg)
	}
	a.Close()
	a.Close() // a second close gives back nothing more
	d.Close()
	if _, err := write("/c"); err != nil {
		t.Errorf("open after two closes: %v", err)
	}
	if _, err := read(); err != nil {
		t.Errorf("open after two closes: %v", err)
	}
	if _, err := read(); err == nil {
		t.Errorf("4th open after the closes: got success; want %q", msg)
	}
}

// TestUpload_HalfFilledPartsNeverHoldTheShare: a user's half-filled
// parts that hold its whole share, each needing more to be finished, do
// not deadlock: one upload finishes its part past the share, the others
// follow. (10 OpenSSH clients of one user at once did this in
// TestE2E_ConcurrentClients.)
func TestUpload_HalfFilledPartsNeverHoldTheShare(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.fs.memShare, e.fs.memWait = 21<<20, 2*time.Second
	tenant := &auth.Tenant{User: "busy", Bucket: e.s3.Bucket, Prefix: "busy/", Perms: auth.AllPerms}
	write := func(u *upload.Upload, data []byte, from, to int) {
		t.Helper()
		for off := from; off < to; off += 32 << 10 {
			if _, err := u.WriteAt(data[off:min(off+32<<10, to)], int64(off)); err != nil {
				t.Fatalf("%s at %d: %v", u.Path(), off, err)
			}
		}
	}
	// Five files with 4 MiB of their 5 MiB first part and one with 1 MiB:
	// the 21 MiB share is spent, and each needs more to finish its part.
	written := func(i int) int {
		if i == 5 {
			return 1 << 20
		}
		return 4 << 20
	}
	var ups []*upload.Upload
	var datas [][]byte
	for i := range 6 {
		u, err := openUploadAs(t, e, tenant, fmt.Sprintf("/f%d", i))
		if err != nil {
			t.Fatal(err)
		}
		data := randBytes(6 << 20)
		write(u, data, 0, written(i))
		ups, datas = append(ups, u), append(datas, data)
	}
	if held := e.fs.mem.Held("busy"); held != 21<<20 {
		t.Fatalf("busy holds %d MiB; want its whole 21 MiB share", held>>20)
	}
	for i, u := range ups {
		write(u, datas[i], written(i), len(datas[i]))
		if err := u.Close(); err != nil {
			t.Fatalf("close %s: %v", u.Path(), err)
		}
		if got, _ := e.s3.Get(t, fmt.Sprintf("busy/f%d", i)); !bytes.Equal(got, datas[i]) {
			t.Errorf("busy/f%d: stored %d bytes; want the %d written", i, len(got), len(datas[i]))
		}
	}
	if n := e.fs.UploadMemoryInUse(); n != 0 {
		t.Errorf("UploadMemoryInUse = %d after every Close; want 0", n)
	}
}
