package s3fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// TestMemBudget_Shares: a user at its share waits and then gives up with
// errShareSpent while another user still gets memory; a full budget makes
// everyone wait; one upload of a user at its share (of everyone, at the
// budget) may finish its part past it, but only one, and only while the
// user is not past its share already; a release lets a waiter go on.
func TestMemBudget_Shares(t *testing.T) {
	ctx := context.Background()
	m := newMemBudget(100)
	const share, short = 40, 20 * time.Millisecond
	var waited time.Duration
	acquire := func(user, upload string, n int64) error {
		d, err := m.Acquire(ctx, user, upload, share, n, short)
		waited += d
		return err
	}
	if err := acquire("hog", "a", 40); err != nil {
		t.Fatalf("hog's first 40 bytes: %v", err)
	}
	if err := acquire("hog", "b", 1); err != nil {
		t.Errorf("hog's upload b at the share, the first to wait: got %v; want it let through to finish its part", err)
	}
	if err := acquire("hog", "c", 1); !errors.Is(err, errShareSpent) {
		t.Errorf("hog's upload c, b finishing past the share: got %v; want errShareSpent", err)
	}
	m.Sending("hog", "b", 1)
	if err := acquire("hog", "c", 1); !errors.Is(err, errShareSpent) {
		t.Errorf("hog's upload c, b's part on its way to S3: got %v; want errShareSpent", err)
	}
	m.Sent("hog", 1)
	if err := acquire("hog", "c", 1); err != nil {
		t.Errorf("hog's upload c, b's part stored, hog at its share: got %v; want it let through to finish its part", err)
	}
	if err := acquire("victim", "v", 40); err != nil {
		t.Errorf("victim while hog is at its share: got %v; want its 40 bytes", err)
	}
	if err := acquire("third", "t", 19); err != nil {
		t.Errorf("third user's 19 bytes: %v", err)
	}
	if err := acquire("fourth", "f", 1); err != nil {
		t.Errorf("a fourth user at the budget, the first to wait: got %v; want it let through to finish its part", err)
	}
	if err := acquire("fifth", "x", 1); !errors.Is(err, errBudgetSpent) {
		t.Errorf("a fifth user with the budget spent: got %v; want errBudgetSpent", err)
	}
	if got := m.held("hog"); got != 41 {
		t.Errorf("hog holds %d; want 41", got)
	}

	m.Finished("hog", "c")
	got := make(chan error, 1)
	go func() { _, err := m.Acquire(ctx, "hog", "e", share, 30, time.Minute); got <- err }()
	for m.waiters() == 0 { // e waits before the release
		time.Sleep(time.Millisecond)
	}
	m.Release("hog", 41)
	if err := <-got; err != nil {
		t.Errorf("hog after releasing its 41 bytes: got %v; want its 30", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Acquire(cctx, "hog", "d", share, 20, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting with its session gone: got %v; want context.Canceled", err)
	}
	for user, n := range map[string]int64{"hog": 30, "victim": 40, "third": 19, "fourth": 1} {
		m.Release(user, n)
	}
	m.Finished("fourth", "f")
	if n := m.inUse.Load(); n != 0 || len(m.users) != 0 || m.finisher != nil {
		t.Errorf("after every release: %d bytes in use, %d users, finisher %v; want 0, 0, none", n, len(m.users), m.finisher)
	}
	if waited < 3*short {
		t.Errorf("waited %v in all; want at least the three timed-out waits (%v)", waited, 3*short)
	}
}

// waiters is the number of Acquires waiting now.
func (m *memBudget) waiters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waiting
}

// TestMemBudget_FinishersNeverWaitForEachOther: with a user at its share
// and everyone at the budget, two of the user's uploads wait while another
// user's finisher fills its part; when that one has sent it, one of the two
// goes on. Before, the first to look again could become the finisher of all
// while the other was the user's finisher, each waiting for the other's
// role until the wait ran out: every upload of the gateway stopped (seen in
// bench/memory.sh). Which one looks first is up to the scheduler, so the
// scene is played many times.
func TestMemBudget_FinishersNeverWaitForEachOther(t *testing.T) {
	ctx := context.Background()
	const share, wait = 40, 100 * time.Millisecond
	for i := range 500 {
		m := newMemBudget(100)
		if _, err := m.Acquire(ctx, "a", "a1", share, 40, wait); err != nil { // a at its share
			t.Fatal(err)
		}
		if _, err := m.Acquire(ctx, "b", "b1", share, 40, wait); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Acquire(ctx, "c", "c1", share, 20, wait); err != nil { // the budget spent
			t.Fatal(err)
		}
		if _, err := m.Acquire(ctx, "b", "b1", share, 1, wait); err != nil { // b1 finishes its part past the budget
			t.Fatalf("b1 past the budget: %v", err)
		}
		got := make(chan error, 2)
		for _, up := range []string{"a2", "a3"} {
			go func() { _, err := m.Acquire(ctx, "a", up, share, 1, wait); got <- err }()
		}
		for m.waiters() < 2 {
			time.Sleep(time.Millisecond)
		}
		m.Finished("b", "b1")             // b1 has sent its part (its bytes still held)
		if first := <-got; first != nil { // the one that goes on answers first; the other waits its wait out
			t.Fatalf("round %d: both of a's uploads gave up (%v; %v); want one to go on once b1 is no finisher", i, first, <-got)
		}
	}
}

func TestDefaultShare(t *testing.T) {
	tests := []struct{ budget, part, want int64 }{
		{512 << 20, 16 << 20, 128 << 20}, // the defaults: a quarter
		{40 << 20, 5 << 20, 21 << 20},    // a part and the reorder window
		{16 << 20, 16 << 20, 16 << 20},   // never above the budget
	}
	for _, tt := range tests {
		if got := defaultShare(tt.budget, tt.part); got != tt.want {
			t.Errorf("defaultShare(%d MiB, %d MiB) = %d MiB; want %d MiB", tt.budget>>20, tt.part>>20, got>>20, tt.want>>20)
		}
	}
}

// TestLargestPart_FitsTheShare: with every share, a whole part of the
// schedule (with room to encrypt it) plus the reorder window fits the share
// (item 13: parts of 1 to 5 GiB used to reserve only the budget).
func TestLargestPart_FitsTheShare(t *testing.T) {
	for _, envelope := range []bool{false, true} {
		for _, tt := range []struct{ share, base int64 }{
			{128 << 20, 16 << 20}, {22 << 20, 5 << 20}, {1 << 30, 16 << 20}, {5<<30 + 32<<20, 16 << 20}, {64 << 30, 5 << 20},
		} {
			largest := largestPart(tt.share, tt.base, envelope)
			room := largest
			if envelope {
				room = objfmt.CipherSize(largest)
			}
			if room+maxAhead > tt.share || largest < tt.base || largest > maxPartSize {
				t.Errorf("envelope %v, share %d MiB: largest part %d (room %d) + window; want ≤ share, ≥ %d, ≤ 5 GiB",
					envelope, tt.share>>20, largest, room, tt.base)
			}
			if envelope && largest%objfmt.ChunkSize != 0 {
				t.Errorf("envelope, share %d MiB: largest part %d is not whole chunks", tt.share>>20, largest)
			}
			for n := int32(1); n <= maxParts; n++ {
				if p := partSizeFor(tt.base, largest, n); p > largest {
					t.Fatalf("share %d MiB: part %d is %d; want ≤ %d", tt.share>>20, n, p, largest)
				}
			}
		}
	}
	if got := maxUploadSize(16<<20, largestPart(defaultShare(512<<20, 16<<20), 16<<20, false)); got < 890<<30 {
		t.Errorf("largest file with the defaults = %d GiB; want ≥ 890 GiB (what docs/operations.md says)", got>>30)
	}
	if got := maxUploadSize(5<<20, largestPart(5<<30+maxAhead, 5<<20, false)); got < 5<<40 {
		t.Errorf("largest file with a 5 GiB + 16 MiB share = %d GiB; want ≥ 5 TiB (what docs/operations.md says)", got>>30)
	}
}

// TestUpload_ReservationCoversLargeParts: far into a large file, the
// memory an upload reserves covers its part buffer, whatever the part
// size, and never exceeds the budget. Before, a part larger than the
// budget reserved only the budget and held the whole part.
func TestUpload_ReservationCoversLargeParts(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.fs.budget = 40 << 20
	e.fs.mem = newMemBudget(e.fs.budget)
	u := openUpload(t, e, context.Background(), "/huge.bin")
	u.mu.Lock()
	err := u.nextPart(3601, 0) // part 3601 of the schedule is 16× the first: 80 MiB
	u.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(32 << 10)
	for off := int64(0); off < 60<<20; off += int64(len(data)) {
		if _, err := u.WriteAt(data, off); err != nil {
			t.Fatalf("WriteAt %d: %v", off, err)
		}
		u.mu.Lock()
		buffered := int64(cap(u.part.buf))
		u.mu.Unlock()
		if in := e.fs.UploadMemoryInUse(); in < buffered || in > e.fs.budget {
			t.Fatalf("after %d MiB: %d MiB reserved for a %d MiB part buffer; want at least the buffer, at most the %d MiB budget",
				(off+int64(len(data)))>>20, in>>20, buffered>>20, e.fs.budget>>20)
		}
	}
	u.TransferError(errors.New("test over"))
	u.Close()
	if n := e.fs.UploadMemoryInUse(); n != 0 {
		t.Errorf("UploadMemoryInUse = %d after Close; want 0", n)
	}
}

// openUploadAs opens path for writing as tenant, the way pkg/sftp does.
func openUploadAs(t *testing.T, e *env, tenant *auth.Tenant, path string) (*upload, error) {
	t.Helper()
	h := e.fs.Handlers(t.Context(), tenant, testLog(), nil).FilePut
	r := sftp.NewRequest("Put", path)
	r.Flags = 0x1a // WRITE|CREAT|TRUNC
	w, err := h.Filewrite(r)
	if err != nil {
		return nil, err
	}
	return w.(edgeWriter).u, nil
}

// TestUpload_UserAtShareWaitsOthersGoOn: one user fills its share with
// files it never finishes (one of them may finish its part past the share);
// its next write fails after the bound with a plain message, and another
// user's upload goes through meanwhile.
func TestUpload_UserAtShareWaitsOthersGoOn(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.fs.budget, e.fs.memShare, e.fs.memWait = 40<<20, 21<<20, 300*time.Millisecond
	e.fs.mem = newMemBudget(e.fs.budget)
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
	if held, most := e.fs.mem.held("hog"), e.fs.memShare+minPartSize; held > most {
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
	write := func(p string) (*upload, error) {
		r := sftp.NewRequest("Put", p)
		r.Flags = 0x1a
		w, err := hs.FilePut.Filewrite(r)
		if err != nil {
			return nil, err
		}
		return w.(edgeWriter).u, nil
	}
	read := func() (*download, error) {
		r := sftp.NewRequest("Get", "/in.txt")
		r.Flags = 0x1
		rd, err := hs.FileGet.Fileread(r)
		if err != nil {
			return nil, err
		}
		return rd.(edgeReader).d, nil
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
	write := func(u *upload, data []byte, from, to int) {
		t.Helper()
		for off := from; off < to; off += 32 << 10 {
			if _, err := u.WriteAt(data[off:min(off+32<<10, to)], int64(off)); err != nil {
				t.Fatalf("%s at %d: %v", u.path, off, err)
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
	var ups []*upload
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
	if held := e.fs.mem.held("busy"); held != 21<<20 {
		t.Fatalf("busy holds %d MiB; want its whole 21 MiB share", held>>20)
	}
	for i, u := range ups {
		write(u, datas[i], written(i), len(datas[i]))
		if err := u.Close(); err != nil {
			t.Fatalf("close %s: %v", u.path, err)
		}
		if got, _ := e.s3.Get(t, fmt.Sprintf("busy/f%d", i)); !bytes.Equal(got, datas[i]) {
			t.Errorf("busy/f%d: stored %d bytes; want the %d written", i, len(got), len(datas[i]))
		}
	}
	if n := e.fs.UploadMemoryInUse(); n != 0 {
		t.Errorf("UploadMemoryInUse = %d after every Close; want 0", n)
	}
}
