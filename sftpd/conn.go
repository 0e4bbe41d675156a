package sftpd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/defender"
	"github.com/s3sftpd/s3sftpd/memlimit"
	"github.com/s3sftpd/s3sftpd/sftpd/sftpext"
)

// conn is one client connection, from TCP accept to close.
type conn struct {
	s      *Server
	nc     *countingConn
	id     string // shared by the log lines and the audit records of the connection
	log    *slog.Logger
	audit  *audit.Session
	ctx    context.Context // cancelled, with a cause, when the connection must end
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	sconn     *ssh.ServerConn
	transfers int            // files open for reading or writing
	sessions  int            // session channels open
	draining  bool           // shutdown: close as soon as transfers reach zero
	lastUse   atomic.Int64   // when the last SFTP packet arrived or a call into the handlers returned
	busy      atomic.Int32   // handler calls for open files still running
	refusals  atomic.Int32   // requests and channels refused, for refusedLevel
	wg        sync.WaitGroup // goroutines this connection started

	tenant *auth.Tenant  // who logged in, under mu; nil before
	key    ssh.PublicKey // the key that logged in, under mu

	// Set during the handshake, which runs on the serve goroutine.
	connected bool          // a connect record was written
	offered   ssh.PublicKey // the key of the authentication attempt in progress
	verified  ssh.PublicKey // the key whose signature was verified

	failedUsers []string       // user names that failed to authenticate, for the defender
	sessionUser string         // the user whose session count this connection holds
	admitted    *defender.Slot // its slot among the unauthenticated connections; nil without a defender
}

// newConn registers a connection, or returns nil when shutting down.
func (s *Server) newConn(ctx context.Context, nc net.Conn) *conn {
	var b [8]byte
	rand.Read(b[:])
	c := &conn{s: s, nc: &countingConn{Conn: nc}, id: hex.EncodeToString(b[:])}
	c.ctx, c.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	c.log = s.Logger.With("conn", c.id, "remote", nc.RemoteAddr().String())
	c.audit = s.Audit.Session(c.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.connWg.Add(1)
	return c
}

func (c *conn) serve() {
	start := time.Now()
	defer func() {
		c.close(errClientGone)
		c.wg.Wait()
		c.sessionDone()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.log.LogAttrs(c.ctx, slog.LevelInfo, "disconnect", slog.String("reason", audit.Bound(context.Cause(c.ctx).Error(), audit.MaxPath)),
			slog.Int64("dur_ms", time.Since(start).Milliseconds()))
		c.disconnected(start, context.Cause(c.ctx))
		c.s.connWg.Done()
	}()

	vc := &versionConn{Conn: c.nc}
	if c.s.LoginTimeout > 0 {
		vc.loginBy = time.Now().Add(c.s.LoginTimeout)
		c.nc.SetDeadline(vc.loginBy)
	}
	if vc.loginBy.IsZero() || c.s.LoginTimeout > versionTimeout {
		c.nc.SetReadDeadline(time.Now().Add(versionTimeout))
	}
	sconn, chans, reqs, err := ssh.NewServerConn(vc, c.sshConfig())
	if err != nil {
		// x/crypto's errors quote what the client offered (its algorithm lists).
		c.log.LogAttrs(c.ctx, slog.LevelWarn, "handshake failed", slog.String("err", audit.Bound(err.Error(), audit.MaxPath)))
		c.handshakeFailed(err)
		c.handshakeDone("")
		return
	}
	c.nc.SetDeadline(time.Time{})
	t := tenantOf(sconn.Permissions)
	if t == nil { // unreachable: public key is the only method, and it always sets a tenant
		sconn.Close()
		panic("sftpd: authenticated connection without tenant")
	}

	c.log = c.log.With("user", t.User, "key_fp", sconn.Permissions.Extensions["pubkey-fp"])
	c.audit = c.audit.WithUser(t.User)
	if !c.handshakeDone(t.User) {
		sconn.Close()
		return
	}
	attrs := []slog.Attr{slog.String("client", audit.Bound(string(sconn.ClientVersion()), audit.MaxName))}
	if id, ok := sconn.Permissions.Extensions["cert-id"]; ok {
		attrs = append(attrs, slog.String("cert_id", audit.Bound(id, audit.MaxName)), slog.String("cert_serial", sconn.Permissions.Extensions["cert-serial"]))
	}
	c.log.LogAttrs(c.ctx, slog.LevelInfo, "login", attrs...)

	c.mu.Lock()
	c.sconn = sconn
	c.tenant, c.key = t, c.verified
	closing := c.draining || c.ctx.Err() != nil
	c.mu.Unlock()
	if closing {
		return
	}
	if c.recheck() { // a reload took the login away while it was being made
		return
	}
	c.touch()
	c.goWatch(func() { sconn.Wait(); c.cancel(errClientGone) })
	c.goWatch(func() { ssh.DiscardRequests(reqs) })
	c.goWatch(c.watchIdle)
	c.goWatch(c.keepalive)
	c.goWatch(c.watchLogin)

	for nc := range chans {
		if nc.ChannelType() != "session" {
			typ := audit.Bound(nc.ChannelType(), audit.MaxName)
			c.log.LogAttrs(c.ctx, c.refusedLevel(), "channel refused", slog.String("type", typ))
			c.refused("channel "+typ, "only sftp sessions are allowed")
			nc.Reject(ssh.Prohibited, "only sftp sessions are allowed")
			continue
		}
		if !c.channelOpened() {
			msg := fmt.Sprintf("too many sessions on this connection: at most %d may be open at once", c.s.maxSessions())
			c.log.LogAttrs(c.ctx, slog.LevelWarn, "channel refused", slog.String("type", "session"), slog.String("reason", msg))
			c.refused("channel session", msg)
			nc.Reject(ssh.ResourceShortage, msg)
			continue
		}
		c.wg.Add(1)
		go func() { // Admit may wait: it must not hold up the connection's other channels
			defer func() { c.channelClosed(); c.wg.Done() }()
			release, err := func() {}, error(nil)
			if c.s.Admit != nil {
				release, err = c.s.Admit(c.ctx)
			}
			if err != nil {
				c.log.LogAttrs(c.ctx, slog.LevelWarn, "channel refused", slog.String("type", "session"), slog.String("reason", err.Error()))
				c.refused("channel session", err.Error())
				nc.Reject(ssh.ResourceShortage, err.Error())
				return
			}
			defer release()
			if ch, reqs, err := nc.Accept(); err == nil {
				c.session(ch, reqs, t)
			}
		}()
	}
}

// channelOpened counts a new session channel, or reports false when the
// connection already has as many open as allowed.
func (c *conn) channelOpened() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions >= c.s.maxSessions() {
		return false
	}
	c.sessions++
	return true
}

func (c *conn) channelClosed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions--
}

func (c *conn) goWatch(f func()) {
	c.wg.Add(1)
	go func() { defer c.wg.Done(); f() }()
}

// close ends the connection with a cause; uploads open on it abort.
func (c *conn) close(cause error) {
	c.cancel(cause)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sconn != nil {
		c.sconn.Close()
	}
	c.nc.Close()
}

// drain closes the connection now if no transfer is open, else after the last.
func (c *conn) drain() {
	c.mu.Lock()
	c.draining = true
	idle := c.transfers == 0
	c.mu.Unlock()
	if idle {
		c.close(errShutdown)
	}
}

// closeGrace is how long a draining connection stays open after its last
// transfer ended, so the reply to that CLOSE reaches the client.
const closeGrace = 500 * time.Millisecond

// transferStarted counts an open file; while draining, new ones are refused.
func (c *conn) transferStarted() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return errDraining
	}
	c.transfers++
	return nil
}

func (c *conn) transferEnded() {
	c.mu.Lock()
	c.transfers--
	idle := c.transfers == 0 && c.draining
	c.mu.Unlock()
	if idle {
		time.AfterFunc(closeGrace, func() { c.close(errShutdown) })
	}
}

func (c *conn) touch() { c.lastUse.Store(time.Now().UnixNano()) }

// working marks a handler call as running until the returned func is called:
// a client waiting for a slow write or close to reach S3 is not idle.
func (c *conn) working() (done func()) {
	c.busy.Add(1)
	return func() { c.touch(); c.busy.Add(-1) }
}

// watchIdle closes the connection when, for IdleTimeout, no SFTP request came
// and no handler call was running.
func (c *conn) watchIdle() {
	if c.s.IdleTimeout <= 0 {
		return
	}
	tick := time.NewTicker(min(c.s.IdleTimeout/4, 5*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
			if c.busy.Load() == 0 && time.Since(time.Unix(0, c.lastUse.Load())) > c.s.IdleTimeout {
				c.log.LogAttrs(c.ctx, slog.LevelInfo, "idle timeout")
				c.close(errIdle)
				return
			}
		}
	}
}

// recheckEvery is RecheckInterval's default: an expired key or certificate
// loses its session within a minute.
const recheckEvery = time.Minute

// watchLogin holds the session against its login every RecheckInterval, so
// a key reaching its expiry-time or a certificate its end of validity
// closes a session that is still running.
func (c *conn) watchLogin() {
	every := c.s.RecheckInterval
	if every <= 0 {
		every = recheckEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
			if c.recheck() {
				return
			}
		}
	}
}

// keepalive probes the client so a vanished peer is noticed even mid-transfer.
func (c *conn) keepalive() {
	if c.s.KeepaliveInterval <= 0 {
		return
	}
	tick := time.NewTicker(c.s.KeepaliveInterval)
	defer tick.Stop()
	var unanswered atomic.Int32
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
			if int(unanswered.Load()) >= max(c.s.KeepaliveCountMax, 1) {
				c.log.LogAttrs(c.ctx, slog.LevelWarn, "keepalive unanswered")
				c.close(errKeepalive)
				return
			}
			unanswered.Add(1)
			c.goWatch(func() {
				if _, _, err := c.sconn.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					unanswered.Store(0)
				}
			})
		}
	}
}

// session serves one session channel: only the sftp subsystem is accepted.
func (c *conn) session(ch ssh.Channel, reqs <-chan *ssh.Request, t tenantRef) {
	defer ch.Close()
	started := false
	for req := range reqs {
		ok := !started && req.Type == "subsystem" && subsystemName(req.Payload) == "sftp"
		switch {
		case ok:
		case req.Type == "env": // OpenSSH sends LANG with every session: not worth a warning
			c.log.LogAttrs(c.ctx, slog.LevelDebug, "request refused", slog.String("type", req.Type))
		default: // recorded before the client hears the answer
			typ := audit.Bound(req.Type, audit.MaxName)
			c.log.LogAttrs(c.ctx, c.refusedLevel(), "request refused", slog.String("type", typ))
			c.refused(typ, "only the sftp subsystem is allowed")
		}
		req.Reply(ok, nil)
		if !ok {
			continue
		}
		started = true
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer ch.Close()
			c.serveSFTP(ch, t)
		}()
	}
}

const maxReadReply = memlimit.MaxReadReply // the largest read reply: 255 KiB, as OpenSSH's

func (c *conn) serveSFTP(ch ssh.Channel, t tenantRef) {
	h := c.s.Handlers(c.ctx, t, c.log, c.audit)
	hasher, _ := h.FileCmd.(sftpext.FileHasher)
	h = trackTransfers(h, c)
	rw := memlimit.Bound(c.ctx, ch) // what its requests hold counts in Admit's room
	if l := t.Limits; l.MaxUploadBytesPerSec > 0 || l.MaxDownloadBytesPerSec > 0 {
		rw = throttledChannel{Channel: rw, c: c, bw: c.s.bandwidthOf(t)}
	}
	rs := sftp.NewRequestServer(sftpext.New(activity{rw, c}, hasher), h, sftp.WithStartDirectory("/"),
		// Clients that ask for reads larger than 32 KiB get them (OpenSSH
		// sftp -B, rclone, lftp): fewer round trips per MiB.
		sftp.WithRSMaxTxPacket(maxReadReply))
	err := rs.Serve()
	// scp and some other clients treat a session without exit-status as
	// failed; it must go out before rs.Close closes the channel.
	status := uint32(0)
	if err != nil && !errors.Is(err, io.EOF) {
		status = 1
	}
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
	rs.Close()
	c.log.LogAttrs(c.ctx, slog.LevelDebug, "sftp session ended", slog.Any("err", err))
}

// refusedLevel is the log level of a refused request or channel: WARN for
// the first audit.RefusedBurst of the connection, then DEBUG, as the trail
// stops recording each one too (a client can send thousands a second).
func (c *conn) refusedLevel() slog.Level {
	if c.refusals.Add(1) > audit.RefusedBurst {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// subsystemName decodes the string payload of a subsystem request.
func subsystemName(payload []byte) string {
	var p struct{ Name string }
	if ssh.Unmarshal(payload, &p) != nil {
		return ""
	}
	return p.Name
}

// versionTimeout is how long a client has to send its SSH version line,
// which every client sends at once: a socket that stays silent holds a
// handshake slot for 5 s, not for the whole login timeout.
const versionTimeout = 5 * time.Second

// versionConn lifts the version deadline once the client's version line (the
// first line that starts with "SSH-") has arrived: from then on the login
// timeout alone bounds the handshake.
type versionConn struct {
	net.Conn
	loginBy time.Time // the login deadline; zero = none
	seen    bool      // the version line arrived
	start   []byte    // the first bytes of the line being read
}

func (v *versionConn) Read(p []byte) (int, error) {
	n, err := v.Conn.Read(p)
	if !v.seen {
		v.scan(p[:n])
	}
	return n, err
}

func (v *versionConn) scan(b []byte) {
	for _, ch := range b {
		switch {
		case ch == '\n' && string(v.start) == "SSH-":
			v.seen = true
			v.Conn.SetReadDeadline(v.loginBy)
			return
		case ch == '\n':
			v.start = v.start[:0]
		case len(v.start) < 4:
			v.start = append(v.start, ch)
		}
	}
}

// activity stamps the connection as in use whenever an SFTP packet arrives.
type activity struct {
	ssh.Channel
	c *conn
}

func (a activity) Read(p []byte) (int, error) {
	n, err := a.Channel.Read(p)
	a.c.touch()
	return n, err
}
