package sftpd

import (
	"context"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
)

// Reasons passed to Server.Throttled.
const (
	ThrottledUploadBandwidth   = "upload_bandwidth"   // a session waited for its user's max_upload_mbps
	ThrottledDownloadBandwidth = "download_bandwidth" // a session waited for its user's max_download_mbps
)

// bandwidth is a token bucket of bytes per second, shared by all the
// sessions of one user in one direction. Takers that find it empty go into
// debt and wait it out, so concurrent sessions are served in turn.
type bandwidth struct {
	mu     sync.Mutex
	rate   float64 // bytes per second; 0 is no cap
	tokens float64 // bytes that may pass now; negative: owed
	last   time.Time
}

// burst is how much may pass at once after a pause: a quarter second of the
// rate, and at least one largest SFTP packet, so no single write waits
// longer than its own bytes take.
func (b *bandwidth) burst() float64 { return max(b.rate/4, 256<<10) }

// setRate changes the cap (a reload changed the user's limits).
func (b *bandwidth) setRate(rate int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if float64(rate) != b.rate {
		b.rate = float64(rate)
		b.tokens, b.last = b.burst(), time.Now()
	}
}

// take lets n bytes pass, waiting until the bucket has them or ctx ends. It
// returns how long it waited.
func (b *bandwidth) take(ctx context.Context, n int) (time.Duration, error) {
	b.mu.Lock()
	if b.rate <= 0 {
		b.mu.Unlock()
		return 0, nil
	}
	now := time.Now()
	b.tokens = min(b.burst(), b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if wait <= 0 {
		return 0, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return wait, nil
	case <-ctx.Done():
		return wait, context.Cause(ctx)
	}
}

// userBandwidth is one user's pair of buckets.
type userBandwidth struct{ up, down bandwidth }

// bandwidthOf returns the buckets of t's user, set to t's limits.
func (s *Server) bandwidthOf(t *auth.Tenant) *userBandwidth {
	s.mu.Lock()
	if s.bandwidth == nil {
		s.bandwidth = map[string]*userBandwidth{}
	}
	bw := s.bandwidth[t.User]
	if bw == nil {
		bw = &userBandwidth{}
		s.bandwidth[t.User] = bw
	}
	s.mu.Unlock()
	bw.up.setRate(t.Limits.MaxUploadBytesPerSec)
	bw.down.setRate(t.Limits.MaxDownloadBytesPerSec)
	return bw
}

// throttledChannel paces an sftp session's channel by its user's buckets:
// what the client sends (uploads, and requests) and what it receives
// (downloads, listings), byte for byte whatever the client.
type throttledChannel struct {
	ssh.Channel
	c  *conn
	bw *userBandwidth
}

func (tc throttledChannel) Read(p []byte) (int, error) {
	n, err := tc.Channel.Read(p)
	if n > 0 {
		if waited, werr := tc.bw.up.take(tc.c.ctx, n); waited > 0 {
			tc.c.s.throttled(ThrottledUploadBandwidth, waited)
			if err == nil {
				err = werr
			}
		}
	}
	return n, err
}

func (tc throttledChannel) Write(p []byte) (int, error) {
	waited, err := tc.bw.down.take(tc.c.ctx, len(p))
	if waited > 0 {
		tc.c.s.throttled(ThrottledDownloadBandwidth, waited)
	}
	if err != nil {
		return 0, err
	}
	return tc.Channel.Write(p)
}

func (s *Server) throttled(reason string, d time.Duration) {
	if s.Throttled != nil {
		s.Throttled(reason, d)
	}
}
