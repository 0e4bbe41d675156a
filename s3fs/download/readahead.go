package download

import (
	"sync"
	"sync/atomic"

	"github.com/s3sftpd/s3sftpd/objfmt"
)

// DefaultReadAheadMemory is the process-wide read-ahead budget when
// NewReadAhead is given 0.
const DefaultReadAheadMemory = 256 << 20

// ThrottledReadAheadMemory is the reason, for Config.Throttled, of a read
// served without read-ahead: the budget or the user's share was full.
const ThrottledReadAheadMemory = "read_ahead_memory"

// ReadAhead is the memory that download streams may fill ahead of the
// client's reads and keep behind them: a total for the process and a share
// per user. It never makes anyone wait: a stream that cannot reserve its next
// block stops, and its reads are served by ranged GETs of just the bytes
// asked for, so an idle or hostile handle holds nothing another partner
// needs.
type ReadAhead struct {
	total int64

	mu     sync.Mutex
	used   int64
	byUser map[string]int64 // user → bytes reserved now
	inUse  atomic.Int64     // used, for the metrics

	// blocks and stored are buffers streams dropped, for the next to fill:
	// a 1 GiB download would otherwise allocate and zero 1,024 of them
	// (blocks of plaintext; stored: an encrypted block's chunks, read and
	// opened into a block). What is here is garbage the collector may take,
	// as a dropped block was.
	blocks, stored sync.Pool
}

// NewReadAhead is a budget of n bytes (0: DefaultReadAheadMemory).
func NewReadAhead(n int64) *ReadAhead {
	if n <= 0 {
		n = DefaultReadAheadMemory
	}
	return &ReadAhead{total: n, byUser: map[string]int64{}}
}

// tryReserve takes n bytes for user if both the user's share (0: no share
// of its own) and the total have them free now.
func (b *ReadAhead) tryReserve(user string, share, n int64) bool {
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
func (b *ReadAhead) release(user string, n int64) {
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

// InUse is the number of bytes of download read-ahead held now.
func (b *ReadAhead) InUse() int64 { return b.inUse.Load() }

// Held is the bytes user holds now.
func (b *ReadAhead) Held(user string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byUser[user]
}

// block is a BlockSize buffer for a stream to fill, dropped by another
// stream or new.
func (b *ReadAhead) block() []byte {
	if p, ok := b.blocks.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, BlockSize)
}

// storedBlockSize is the stored size of an encrypted block: whole chunks.
const storedBlockSize = BlockSize / objfmt.ChunkSize * objfmt.CipherChunkSize

// storedBlock is a buffer for an encrypted block's stored chunks.
func (b *ReadAhead) storedBlock() []byte {
	if p, ok := b.stored.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, storedBlockSize)
}

// recycle takes back a buffer of block or storedBlock no read will look at again.
func (b *ReadAhead) recycle(buf []byte) {
	switch cap(buf) {
	case BlockSize:
		buf = buf[:BlockSize]
		b.blocks.Put(&buf)
	case storedBlockSize:
		buf = buf[:storedBlockSize]
		b.stored.Put(&buf)
	}
}
