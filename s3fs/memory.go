package s3fs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/crypt"
)

// memBudget is the process-wide budget of upload buffers, shared fairly:
// besides the total, each user holds at most its share, so a user whose
// uploads (or idle open files) have spent their share waits while other
// users go on. Bytes are reserved as buffers grow, never for a whole part
// up front, so an open file with one byte written holds one small step.
type memBudget struct {
	total int64

	mu    sync.Mutex
	used  int64
	users map[string]int64 // user → bytes held; absent when 0
	freed chan struct{}    // closed and replaced whenever bytes are released

	inUse  atomic.Int64 // used, for the metrics
	waited atomic.Int64 // nanoseconds writes spent waiting, for the metrics
}

func newMemBudget(n int64) *memBudget {
	return &memBudget{total: n, users: map[string]int64{}, freed: make(chan struct{})}
}

// Errors of Acquire: the wait outlasted its bound, with the user at its
// share or with the whole budget in use.
var (
	errShareSpent  = errors.New("upload memory: the user's share is in use")
	errBudgetSpent = errors.New("upload memory: the budget is in use")
)

// Acquire waits until n bytes fit both the budget and user's share, and
// takes them; it gives up when ctx ends or after wait.
func (m *memBudget) Acquire(ctx context.Context, user string, share, n int64, wait time.Duration) error {
	if n <= 0 {
		return nil
	}
	var timeout <-chan time.Time
	var began time.Time
	for {
		m.mu.Lock()
		atShare := m.users[user]+n > share
		if !atShare && m.used+n <= m.total {
			m.take(user, n)
			m.mu.Unlock()
			if !began.IsZero() {
				m.waited.Add(int64(time.Since(began)))
			}
			return nil
		}
		freed := m.freed
		m.mu.Unlock()
		if timeout == nil {
			began = time.Now()
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-freed:
		case <-ctx.Done():
			m.waited.Add(int64(time.Since(began)))
			return ctx.Err()
		case <-timeout:
			m.waited.Add(int64(time.Since(began)))
			if atShare {
				return errShareSpent
			}
			return errBudgetSpent
		}
	}
}

// Force takes n bytes without waiting, even past the budget or the share:
// for bytes already in memory that move from one buffer to another. Until
// they are released, the user's next Acquire waits.
func (m *memBudget) Force(user string, n int64) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.take(user, n)
}

func (m *memBudget) take(user string, n int64) {
	m.used += n
	m.users[user] += n
	m.inUse.Add(n)
}

// Release returns n bytes of user to the budget and wakes the waiters.
func (m *memBudget) Release(user string, n int64) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= n
	m.inUse.Add(-n)
	if left := m.users[user] - n; left > 0 {
		m.users[user] = left
	} else {
		delete(m.users, user)
	}
	close(m.freed)
	m.freed = make(chan struct{})
}

// held is the bytes user holds now.
func (m *memBudget) held(user string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.users[user]
}

// UploadMemoryInUse is the number of bytes of upload buffers reserved now.
func (fs *FS) UploadMemoryInUse() int64 { return fs.mem.inUse.Load() }

// UploadMemoryWaited is the time writes have spent waiting for upload
// memory since the start, every wait counted (several may overlap).
func (fs *FS) UploadMemoryWaited() time.Duration { return time.Duration(fs.mem.waited.Load()) }

// largestPart is the largest part an upload of a user with this share may
// fill: a whole part (with room to encrypt it) and the reorder window fit
// the share, so a part never waits for memory it can never get; never below
// the first part size base. This bounds the largest file (maxUploadSize):
// every part is held in memory until S3 has it, and a reservation that
// covered only part of a part would let one upload hold many times its share.
func largestPart(share, base int64, envelope bool) int64 {
	s, limit := share-maxAhead, int64(maxPartSize)
	if envelope { // whole chunks, whose ciphertext fits
		s, limit = (s-crypt.Overhead)/crypt.CipherChunkSize*crypt.ChunkSize, envelopePartCap
	}
	return min(max(s, base), limit)
}

// defaultShare is each user's share of a budget when the config sets none:
// a quarter, but at least a first part and the reorder window.
func defaultShare(budget, partSize int64) int64 {
	return min(budget, max(budget/4, partSize+maxAhead))
}

// memShareOf is t's share of the upload memory: its own, else the default,
// never more than the whole budget.
func (fs *FS) memShareOf(t *auth.Tenant) int64 {
	s := t.UploadMemoryShare
	if s <= 0 {
		s = fs.memShare
	}
	return min(s, fs.budget)
}
