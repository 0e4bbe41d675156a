package s3fs

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3sftpd/s3sftpd/s3fs/upload"
)

// DefaultReadAheadMemory is the process-wide read-ahead budget when
// Config.ReadAheadMemory is 0.
const DefaultReadAheadMemory = 256 << 20

// Reasons passed to Config.Throttled.
const (
	ThrottledReadAheadMemory = "read_ahead_memory" // a read was served without read-ahead: the budget or the user's share was full
	ThrottledUploadMemory    = upload.ThrottledUploadMemory
)

// readAheadBudget is the memory that download streams may fill ahead of the
// client's reads and keep behind them: a total for the process and a share
// per user. It never makes anyone wait: a stream that cannot reserve its next
// block stops, and its reads are served by ranged GETs of just the bytes
// asked for, so an idle or hostile handle holds nothing another partner
// needs.
type readAheadBudget struct {
	total int64

	mu     sync.Mutex
	used   int64
	byUser map[string]int64 // user → bytes reserved now
	inUse  atomic.Int64     // used, for the metrics
}

func newReadAheadBudget(n int64) *readAheadBudget {
	if n <= 0 {
		n = DefaultReadAheadMemory
	}
	return &readAheadBudget{total: n, byUser: map[string]int64{}}
}

// tryReserve takes n bytes for user if both the user's share (0: no share
// of its own) and the total have them free now.
func (b *readAheadBudget) tryReserve(user string, share, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if share > 0 && b.byUser[user]+n > share {
		return false
	}
	if b.used+n > b.total {
		return false
	}
	b.used += n
	b.inUse.Add(n)
	b.byUser[user] += n
	return true
}

// release returns n bytes reserved for user.
func (b *readAheadBudget) release(user string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byUser[user] -= n; b.byUser[user] <= 0 {
		delete(b.byUser, user)
	}
	b.used -= n
	b.inUse.Add(-n)
}

// ReadAheadMemoryInUse is the number of bytes of download read-ahead held now.
func (fs *FS) ReadAheadMemoryInUse() int64 { return fs.readAhead.inUse.Load() }

// throttled reports time a transfer lost to a limit, for the metrics.
func (fs *FS) throttled(reason string, d time.Duration) {
	if fs.onThrottle != nil {
		fs.onThrottle(reason, d)
	}
}
