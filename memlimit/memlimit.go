// Package memlimit holds the gateway to its memory limit where the budgets
// of s3fs do not reach: it reads the container's limit from cgroups, works
// out how the limit splits (Plan), keeps the room sessions take under the
// limit, and bounds the SFTP requests a session holds. It knows nothing of
// config, S3 or logins: config hands Plan its keys as plain values, cmd
// sizes the room from the split and sftpd asks it before each session.
package memlimit

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// SessionBuffers is the memory one SFTP session may hold outside the upload
// and read-ahead budgets: its SSH channel's receive window (2 MiB, fixed by
// x/crypto), the SFTP requests in flight (maxInFlight) and 1 MiB for the
// rest (a request past the bound, its goroutines, a reply, an S3
// connection's buffers). A Room is counted in rooms of it.
const SessionBuffers = 4 << 20

// maxInFlight bounds the bytes of the SFTP requests a session has read and
// not yet answered, and of the read replies they ask for. pkg/sftp would
// otherwise hold 26 requests of up to 256 KiB each (8 workers and two
// queues of 8) while its writes wait for upload memory.
const maxInFlight = 1 << 20

// ThrottledSessions is the reason, for the metrics' Throttled hooks, of a
// new session that waited for room under the memory limit.
const ThrottledSessions = "session_memory"

// Room is the memory for sessions under the memory limit: each session
// holds SessionBuffers of it while open; a new one waits for room, and is
// refused when none comes in time. Waiters are served in the order they
// came, so none is refused while later ones get in.
type Room struct {
	total int64

	mu      sync.Mutex
	used    int64
	queue   []chan struct{} // the waiters, oldest first; closed when handed a room
	inUse   atomic.Int64    // used, for the metrics
	waiting atomic.Int64    // len(queue)
}

// NewRoom is room for total bytes of sessions: total/SessionBuffers of them.
func NewRoom(total int64) *Room { return &Room{total: total} }

// Take waits for room for one session until ctx ends or wait passes, and
// says how long it waited and whether it got it; when it did, the caller
// calls Release when the session ends.
func (r *Room) Take(ctx context.Context, wait time.Duration) (time.Duration, bool) {
	r.mu.Lock()
	if len(r.queue) == 0 && r.used+SessionBuffers <= r.total {
		r.used += SessionBuffers
		r.inUse.Add(SessionBuffers)
		r.mu.Unlock()
		return 0, true
	}
	handed := make(chan struct{})
	r.queue = append(r.queue, handed)
	r.waiting.Add(1)
	r.mu.Unlock()
	began := time.Now()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-handed:
		return time.Since(began), true
	case <-ctx.Done():
	case <-t.C:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.queue, handed); i >= 0 {
		r.queue = slices.Delete(r.queue, i, i+1)
		r.waiting.Add(-1)
		return time.Since(began), false
	}
	return time.Since(began), true // handed a room just now
}

// Release gives a session's room to the oldest waiter, or back.
func (r *Room) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) > 0 {
		close(r.queue[0])
		r.queue = r.queue[1:]
		r.waiting.Add(-1)
		return
	}
	r.used -= SessionBuffers
	r.inUse.Add(-SessionBuffers)
}

// InUse is the bytes of room open sessions hold now, for the metrics.
func (r *Room) InUse() int64 { return r.inUse.Load() }

// Waiting is the number of new sessions waiting for room now.
func (r *Room) Waiting() int { return int(r.waiting.Load()) }

// Bound wraps a session's channel so that its SFTP requests hold at most
// maxInFlight; ctx is the connection's, whose end ends a wait.
func Bound(ctx context.Context, ch ssh.Channel) ssh.Channel { return newInFlight(ctx, ch) }

// inFlight bounds what a session's SFTP requests hold (maxInFlight): it
// reads no new request while those read and not yet answered, with the
// replies they ask for, reach the bound. It follows the packet framing in
// both directions: a request's id is released when its reply is written.
// WriteAt never waits for a later write (s3fs), so holding requests back
// cannot deadlock a session; it only slows a client to what its uploads'
// memory lets through.
type inFlight struct {
	ssh.Channel
	ctx context.Context // the connection's: a wait ends with it

	mu    sync.Mutex
	held  int64
	ids   map[uint32][]int64 // request id → what its requests hold, oldest first
	freed chan struct{}      // closed and replaced whenever a reply is written

	in, out frames // the request and the reply streams, under mu
}

func newInFlight(ctx context.Context, ch ssh.Channel) *inFlight {
	f := &inFlight{Channel: ch, ctx: ctx, ids: map[uint32][]int64{}, freed: make(chan struct{})}
	f.in.packet = f.request
	f.out.packet = f.reply
	return f
}

func (f *inFlight) Read(p []byte) (int, error) {
	for {
		f.mu.Lock()
		if !f.in.atBoundary() || f.held < maxInFlight {
			f.mu.Unlock()
			break
		}
		freed := f.freed
		f.mu.Unlock()
		select {
		case <-freed:
		case <-f.ctx.Done():
			return 0, context.Cause(f.ctx)
		}
	}
	f.mu.Lock()
	if rest := f.in.rest(); rest > 0 && int64(len(p)) > rest {
		p = p[:rest] // end at the packet's end, so the next Read starts at a boundary
	}
	f.mu.Unlock()
	n, err := f.Channel.Read(p)
	f.mu.Lock()
	f.in.feed(p[:n])
	f.mu.Unlock()
	return n, err
}

func (f *inFlight) Write(p []byte) (int, error) {
	n, err := f.Channel.Write(p)
	f.mu.Lock()
	f.out.feed(p) // a failed reply is not coming either
	f.mu.Unlock()
	return n, err
}

// MaxReadReply is the largest read reply a session sends (sftpd serves no
// larger): 255 KiB, the most OpenSSH's own server sends and what OpenSSH's
// sftp -B accepts.
const MaxReadReply = 255 * 1024

// SFTP packet types: INIT and VERSION carry no request id.
const (
	fxpInit    = 1
	fxpVersion = 2
	fxpRead    = 5
)

// request counts a request by its head: its own bytes, or for a read the
// reply it asks for when that is larger.
func (f *inFlight) request(head []byte, size int64) {
	if len(head) < 9 || head[4] == fxpInit {
		return
	}
	id := binary.BigEndian.Uint32(head[5:9])
	cost := size
	if head[4] == fxpRead {
		cost = max(cost, readReply(head))
	}
	f.ids[id] = append(f.ids[id], cost)
	f.held += cost
}

// readReply is the size of the reply a read request asks for, from its
// head: handle, offset and length follow the id.
func readReply(head []byte) int64 {
	const maxReply = MaxReadReply + 32 // a whole read reply with its header
	if len(head) < 13 {
		return maxReply
	}
	n := int(binary.BigEndian.Uint32(head[9:13]))
	if at := 13 + n + 8; at+4 <= len(head) {
		return min(int64(binary.BigEndian.Uint32(head[at:at+4]))+32, maxReply)
	}
	return maxReply
}

// reply releases the oldest request with the reply's id.
func (f *inFlight) reply(head []byte, _ int64) {
	if len(head) < 9 || head[4] == fxpVersion {
		return
	}
	id := binary.BigEndian.Uint32(head[5:9])
	costs := f.ids[id]
	if len(costs) == 0 {
		return
	}
	f.held -= costs[0]
	if len(costs) == 1 {
		delete(f.ids, id)
	} else {
		f.ids[id] = costs[1:]
	}
	close(f.freed)
	f.freed = make(chan struct{})
}

// frames follows the packets of one SFTP stream (uint32 length, then that
// many bytes), keeping the first headMax bytes of each to hand to packet
// with the packet's whole size.
type frames struct {
	packet func(head []byte, size int64)
	head   []byte
	size   int64 // of the current packet, length included; 0 until known
	left   int64 // bytes of it after head still to come
}

const headMax = 64

func (fr *frames) atBoundary() bool { return len(fr.head) == 0 && fr.left == 0 }

// rest is what is left of the current packet; 0 at a boundary.
func (fr *frames) rest() int64 {
	switch {
	case fr.left > 0:
		return fr.left
	case fr.size > 0:
		return fr.size - int64(len(fr.head))
	case len(fr.head) > 0: // the length itself, in pieces
		return 4 - int64(len(fr.head))
	}
	return 0
}

func (fr *frames) feed(b []byte) {
	for len(b) > 0 {
		if fr.left > 0 {
			k := min(int64(len(b)), fr.left)
			b, fr.left = b[k:], fr.left-k
			continue
		}
		want := 4
		if fr.size > 0 {
			want = int(min(fr.size, headMax))
		}
		k := min(len(b), want-len(fr.head))
		fr.head, b = append(fr.head, b[:k]...), b[k:]
		if len(fr.head) < want {
			continue
		}
		if fr.size == 0 {
			fr.size = int64(binary.BigEndian.Uint32(fr.head)) + 4
			if fr.size > 4 {
				continue // now the rest of the head
			}
		}
		fr.packet(fr.head, fr.size)
		fr.left = fr.size - int64(len(fr.head))
		fr.head, fr.size = fr.head[:0], 0
	}
}
