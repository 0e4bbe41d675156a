package audit

import (
	"fmt"
	"sync"
	"time"
)

// A client can send thousands of requests a second that the server refuses
// (a stat of a bad path, a shell request), each worth a record: left alone,
// one session fills the disk under the trail, and with on_failure = "deny" a
// full disk stops every partner. So each session writes its first
// RefusedBurst denied records, then RefusedPerSecond a second; the ones in
// between are counted, and the count is written as one "unrecorded" record
// before the next denied record that is written, or before the session's
// disconnect, so a reader of the trail sees how many went unrecorded.
const (
	RefusedBurst     = 100
	RefusedPerSecond = 1
)

// refusals is the token bucket of one session's denied records, shared by
// the copies WithUser makes.
type refusals struct {
	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int64 // denied records not written since the last summary
}

// take spends a token for a denied record at now. It reports whether the
// record may be written, and if so how many were dropped before it (which
// the caller records first).
func (rf *refusals) take(now time.Time) (write bool, dropped int64) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.last.IsZero() {
		rf.tokens = RefusedBurst
	} else {
		rf.tokens = min(RefusedBurst, rf.tokens+now.Sub(rf.last).Seconds()*RefusedPerSecond)
	}
	rf.last = now
	if rf.tokens < 1 {
		rf.dropped++
		return false, 0
	}
	rf.tokens--
	dropped, rf.dropped = rf.dropped, 0
	return true, dropped
}

// flush returns the count of dropped records not yet summarised, and resets it.
func (rf *refusals) flush() int64 {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	n := rf.dropped
	rf.dropped = 0
	return n
}

// unrecorded is the record that stands for n denied records left out.
func unrecorded(n int64) Record {
	return Record{Event: EventUnrecorded, Result: ResultDenied, Count: Int(n),
		Reason: fmt.Sprintf("%d refused requests not recorded: more than %d in a burst or %d a second in this session", n, RefusedBurst, RefusedPerSecond)}
}
