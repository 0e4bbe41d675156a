package upload

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/objfmt"
)

// TestMemBudget_Shares: a user at its share waits and then gives up with
// errShareSpent while another user still gets memory; a full budget makes
// everyone wait; one upload of a user at its share (of everyone, at the
// budget) may finish its part past it, but only one, and only while the
// user is not past its share already; a release lets a waiter go on.
func TestMemBudget_Shares(t *testing.T) {
	ctx := context.Background()
	m := NewBudget(100)
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
	if got := m.Held("hog"); got != 41 {
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
func (m *Budget) waiters() int {
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
		m := NewBudget(100)
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
		if got := DefaultShare(tt.budget, tt.part); got != tt.want {
			t.Errorf("DefaultShare(%d MiB, %d MiB) = %d MiB; want %d MiB", tt.budget>>20, tt.part>>20, got>>20, tt.want>>20)
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
			if room+MaxAhead > tt.share || largest < tt.base || largest > MaxPartSize {
				t.Errorf("envelope %v, share %d MiB: largest part %d (room %d) + window; want ≤ share, ≥ %d, ≤ 5 GiB",
					envelope, tt.share>>20, largest, room, tt.base)
			}
			if envelope && largest%objfmt.ChunkSize != 0 {
				t.Errorf("envelope, share %d MiB: largest part %d is not whole chunks", tt.share>>20, largest)
			}
			for n := int32(1); n <= MaxParts; n++ {
				if p := partSizeFor(tt.base, largest, n); p > largest {
					t.Fatalf("share %d MiB: part %d is %d; want ≤ %d", tt.share>>20, n, p, largest)
				}
			}
		}
	}
	if got := maxUploadSize(16<<20, largestPart(DefaultShare(512<<20, 16<<20), 16<<20, false)); got < 890<<30 {
		t.Errorf("largest file with the defaults = %d GiB; want ≥ 890 GiB (what docs/operations.md says)", got>>30)
	}
	if got := maxUploadSize(5<<20, largestPart(5<<30+MaxAhead, 5<<20, false)); got < 5<<40 {
		t.Errorf("largest file with a 5 GiB + 16 MiB share = %d GiB; want ≥ 5 TiB (what docs/operations.md says)", got>>30)
	}
}

// TestUpload_ReservationCoversLargeParts: far into a large file, the
// memory an upload reserves covers its part buffer, whatever the part
// size, and never exceeds the budget. Before, a part larger than the
// budget reserved only the budget and held the whole part.
func TestUpload_ReservationCoversLargeParts(t *testing.T) {
	cfg, s := testConfig(t, 21<<20) // the share the s3fs tests' default gives
	cfg.Budget = NewBudget(40 << 20)
	u := New(cfg, s, File{Path: "/huge.bin", Key: "u/huge.bin", Overwrite: true})
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
		if in := cfg.Budget.InUse(); in < buffered || in > cfg.Budget.total {
			t.Fatalf("after %d MiB: %d MiB reserved for a %d MiB part buffer; want at least the buffer, at most the %d MiB budget",
				(off+int64(len(data)))>>20, in>>20, buffered>>20, cfg.Budget.total>>20)
		}
	}
	u.TransferError(errors.New("test over"))
	u.Close()
	if n := cfg.Budget.InUse(); n != 0 {
		t.Errorf("UploadMemoryInUse = %d after Close; want 0", n)
	}
}
