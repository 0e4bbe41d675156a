package upload

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3sftpd/s3sftpd/objfmt"
)

// Budget is the process-wide budget of upload buffers, shared fairly:
// besides the total, each user holds at most its share, so a user whose
// uploads (or idle open files) have spent their share waits while other
// users go on. Bytes are reserved as buffers grow, never for a whole part
// up front, so an open file with one byte written holds one small step.
//
// Reserving as buffers grow could deadlock: a user's half-filled parts
// might hold its whole share, each needing more to be finished and sent.
// So an upload that finds its user at its share may become the user's
// finisher, and one that finds everyone at the budget the finisher of all:
// a finisher may go past the share (the budget) until it has sent its part.
// A role is named only while none of the user's parts (none at all) is on
// its way to S3, since those free memory when S3 has them, and only to an
// upload that goes on at once: a waiting upload holds no role, and the
// finisher of all goes past its user's share as well, so no two uploads
// ever wait for each other's roles. So a share, or the budget, is exceeded
// by at most one part and its reorder window each (and the few KiB waiting
// writes take when they move from the window into a part), and while
// nothing is on its way to S3 one waiting upload can always go on.
type Budget struct {
	total int64

	mu       sync.Mutex
	used     int64
	sending  int64 // of used, the bytes of parts on their way to S3
	finisher any   // the upload that may go past total, or nil
	users    map[string]*memUser
	freed    chan struct{} // closed and replaced whenever bytes are released
	waiting  int           // Acquires waiting now

	inUse atomic.Int64 // used, for the metrics
}

// memUser is what one user holds; absent when nothing.
type memUser struct {
	held     int64
	sending  int64 // of held, the bytes of parts on their way to S3
	finisher any   // the user's upload that may go past its share, or nil
}

// NewBudget is a budget of n bytes.
func NewBudget(n int64) *Budget {
	return &Budget{total: n, users: map[string]*memUser{}, freed: make(chan struct{})}
}

// Errors of Acquire: the wait outlasted its bound, with the user at its
// share or with the whole budget in use.
var (
	errShareSpent  = errors.New("upload memory: the user's share is in use")
	errBudgetSpent = errors.New("upload memory: the budget is in use")
)

// Acquire waits until n bytes fit both the budget and user's share, and
// takes them for upload (any comparable value naming it, see Finished); it
// gives up when ctx ends or after wait. It returns how long it waited.
func (m *Budget) Acquire(ctx context.Context, user string, upload any, share, n int64, wait time.Duration) (time.Duration, error) {
	if n <= 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil { // a closing session takes nothing more
		return 0, err
	}
	var timeout <-chan time.Time
	var began time.Time
	for {
		m.mu.Lock()
		u := m.user(user)
		atShare, atTotal := u.held+n > share, m.used+n > m.total
		if m.mayGo(u, upload, atShare, atTotal) {
			m.take(user, n)
			m.resign(u, upload, atShare, atTotal)
			m.mu.Unlock()
			if began.IsZero() {
				return 0, nil
			}
			return time.Since(began), nil
		}
		m.forget(user, u)
		freed := m.freed
		if timeout == nil {
			m.waiting++
			defer m.stopWaiting()
		}
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
			return time.Since(began), ctx.Err()
		case <-timeout:
			if atShare {
				return time.Since(began), errShareSpent
			}
			return time.Since(began), errBudgetSpent
		}
	}
}

func (m *Budget) stopWaiting() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waiting--
}

// Sending says upload has sent a part holding n bytes: they are freed by
// Sent when S3 has answered, and the upload is no finisher any more.
func (m *Budget) Sending(user string, upload any, n int64) {
	m.mu.Lock()
	m.sending += n
	m.user(user).sending += n
	m.mu.Unlock()
	m.Finished(user, upload)
}

// Sent releases the n bytes of a part Sending announced.
func (m *Budget) Sent(user string, n int64) {
	m.mu.Lock()
	m.sending -= n
	m.user(user).sending -= n
	m.mu.Unlock()
	m.Release(user, n)
}

// Finished says upload has sent its part, or ended: it is no finisher any
// more.
func (m *Budget) Finished(user string, upload any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[user]
	if (!ok || u.finisher != upload) && m.finisher != upload {
		return
	}
	if ok && u.finisher == upload {
		u.finisher = nil
		m.forget(user, u)
	}
	if m.finisher == upload {
		m.finisher = nil
	}
	m.wake()
}

// Force takes n bytes without waiting, even past the budget or the share:
// for bytes already in memory that move from one buffer to another. Until
// they are released, the user's next Acquire waits.
func (m *Budget) Force(user string, n int64) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.take(user, n)
}

// mayGo reports whether upload may take its bytes now, naming it the
// finisher it must be to go past the share or the budget. The finisher of
// all never waits, not even for its user's finisher: that one may be
// waiting for it, and both would wait for ever.
func (m *Budget) mayGo(u *memUser, upload any, atShare, atTotal bool) bool {
	if m.finisher == upload {
		return true
	}
	if atTotal {
		if m.finisher != nil || m.sending != 0 {
			return false
		}
		m.finisher = upload
		return true
	}
	if atShare {
		if u.finisher != upload && (u.finisher != nil || u.sending != 0) {
			return false
		}
		u.finisher = upload
	}
	return true
}

// resign takes a finisher's role from upload where it got its bytes
// without it, so an upload that is not past the share, or the budget,
// never keeps another from the role.
func (m *Budget) resign(u *memUser, upload any, atShare, atTotal bool) {
	resigned := false
	if !atShare && u.finisher == upload {
		u.finisher, resigned = nil, true
	}
	if !atTotal && m.finisher == upload {
		m.finisher, resigned = nil, true
	}
	if resigned {
		m.wake()
	}
}

func (m *Budget) user(name string) *memUser {
	u, ok := m.users[name]
	if !ok {
		u = &memUser{}
		m.users[name] = u
	}
	return u
}

func (m *Budget) forget(name string, u *memUser) {
	if u.held <= 0 && u.finisher == nil {
		delete(m.users, name)
	}
}

func (m *Budget) take(user string, n int64) {
	m.used += n
	m.user(user).held += n
	m.inUse.Add(n)
}

func (m *Budget) wake() {
	close(m.freed)
	m.freed = make(chan struct{})
}

// Release returns n bytes of user to the budget and wakes the waiters.
func (m *Budget) Release(user string, n int64) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= n
	m.inUse.Add(-n)
	u := m.user(user)
	u.held -= n
	m.forget(user, u)
	m.wake()
}

// Held is the bytes user holds now.
func (m *Budget) Held(user string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.users[user]; ok {
		return u.held
	}
	return 0
}

// InUse is the number of bytes of upload buffers reserved now.
func (m *Budget) InUse() int64 { return m.inUse.Load() }

// largestPart is the largest part an upload of a user with this share may
// fill: a whole part (with room to encrypt it) and the reorder window fit
// the share, so a part never waits for memory it can never get; never below
// the first part size base. This bounds the largest file (maxUploadSize):
// every part is held in memory until S3 has it, and a reservation that
// covered only part of a part would let one upload hold many times its share.
func largestPart(share, base int64, envelope bool) int64 {
	s, limit := share-MaxAhead, int64(MaxPartSize)
	if envelope { // whole chunks, whose ciphertext fits
		s, limit = (s-objfmt.Overhead)/objfmt.CipherChunkSize*objfmt.ChunkSize, envelopePartCap
	}
	return min(max(s, base), limit)
}

// DefaultShare is each user's share of a budget when the config sets none:
// a quarter, but at least a first part and the reorder window.
func DefaultShare(budget, partSize int64) int64 {
	return min(budget, max(budget/4, partSize+MaxAhead))
}
