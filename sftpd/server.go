// Package sftpd is the SSH side of s3sftpd: it accepts connections, runs the
// handshake with modern algorithms only, authenticates keys through auth,
// and serves the sftp subsystem (and nothing else) with the handlers it is
// given. It never calls S3: cmd hands it a handler factory.
package sftpd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/defender"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("sftpd: server closed")

// Authenticator finds the tenant for a user and key; *auth.Users is one.
type Authenticator interface {
	Lookup(user string, key ssh.PublicKey) (*auth.Tenant, error)
	// Permit checks where and when the key may be used (key options,
	// allow_from); its error says why, for the log only.
	Permit(user string, key ssh.PublicKey, addr netip.Addr, now time.Time) error
	// CheckPassword finds the tenant of a password login.
	CheckPassword(user, password string) (*auth.Tenant, error)
	// Tenant is a user's tenant now, to hold password sessions against.
	Tenant(user string) (*auth.Tenant, error)
}

// Server serves SFTP sessions. Set the fields, then call Serve; they must not
// change afterwards.
type Server struct {
	HostKeys []ssh.Signer
	Users    Authenticator
	// Handlers builds the SFTP handlers for one authenticated session. ctx is
	// cancelled when the session ends for any reason; the handlers must abort
	// open uploads then. They record file operations to a, which carries the
	// session id and the user.
	Handlers func(ctx context.Context, t *auth.Tenant, log *slog.Logger, a *audit.Session) sftp.Handlers
	Logger   *slog.Logger
	// Audit receives the connect, auth and disconnect records of every
	// connection that got as far as the SSH handshake; nil records nothing.
	Audit *audit.Log

	LoginTimeout      time.Duration // handshake and authentication must finish within it; 0 = no limit
	IdleTimeout       time.Duration // a session with no SFTP request and no transfer call running for this long is closed; 0 = never
	KeepaliveInterval time.Duration // keepalive probes; 0 disables
	KeepaliveCountMax int           // unanswered probes before the connection is dropped
	MaxAuthTries      int
	// Crypto is the algorithm policy: CryptoModern, CryptoCompatible (the
	// default, also for "") or CryptoFIPS.
	Crypto string
	// UserCAs are the authorities whose user certificates log in as the
	// user named in their principals; nil accepts no certificate.
	UserCAs *auth.UserCAs
	// PasswordAuth offers password authentication as a first method, for
	// users whose only method is password. Without it the server offers
	// publickey alone; a second-factor password is asked for either way.
	PasswordAuth bool
	// Defender bans addresses that fail to log in and caps connections;
	// nil turns it off.
	Defender *defender.Config
	// RecheckInterval is how often each session is held against its login
	// (Recheck does it at once, after a reload): a key past its
	// expiry-time or a certificate past its validity ends the session.
	// 0 means a minute.
	RecheckInterval time.Duration
	// Now is the clock of logins and rechecks; nil means time.Now. Tests
	// move it forward.
	Now func() time.Time
	// MaxSessionsPerConnection caps the session channels open at once on
	// one connection (OpenSSH's MaxSessions); each is an sftp server with
	// its own open files. 0 is DefaultMaxSessionsPerConnection.
	MaxSessionsPerConnection int
	// Throttled, if set, is told of time a session waited for its user's
	// bandwidth cap (auth.Limits), with ThrottledUploadBandwidth or
	// ThrottledDownloadBandwidth.
	Throttled func(reason string, d time.Duration)
	Admit     func(ctx context.Context) (release func(), err error) // if set, may hold up a new session, or refuse it (with its error)

	initOnce sync.Once
	config   *ssh.ServerConfig
	def      *defender.Defender // nil without Defender

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	connWg    sync.WaitGroup
	bandwidth map[string]*userBandwidth // user → the buckets all its sessions share
}

// DefaultMaxSessionsPerConnection is OpenSSH's MaxSessions default.
const DefaultMaxSessionsPerConnection = 10

func (s *Server) maxSessions() int {
	return cmp.Or(max(s.MaxSessionsPerConnection, 0), DefaultMaxSessionsPerConnection)
}

// Serve accepts connections on ln until Shutdown; it always returns an error,
// ErrServerClosed after Shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if _, err := policy(s.Crypto); err != nil {
		ln.Close()
		return err
	}
	s.initOnce.Do(s.init)
	if !s.track(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.untrack(ln)
	if s.def != nil {
		stop, swept := make(chan struct{}), make(chan struct{})
		go func() { s.def.Sweep(stop); close(swept) }()
		defer func() { close(stop); <-swept }()
	}
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shuttingDown() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		p, ok := s.admitConn(nc)
		if !ok {
			nc.Close()
			continue
		}
		c := s.newConn(ctx, nc)
		if c == nil {
			s.unadmit(p)
			nc.Close()
			continue
		}
		c.admitted = p
		go c.serve()
	}
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
}

func (s *Server) shuttingDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting connections and closes idle sessions at once.
// Sessions with a transfer open may finish it until ctx expires; then they
// are cut off and their uploads abort (never commit). Shutdown waits for that
// clean-up and returns ctx.Err() if the drain did not finish in time.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.connWg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.close(errDrainTimeout)
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// Recheck holds every logged-in session against the user map in force, as
// after a reload: a session whose user or key is gone, whose home, bucket,
// permissions or password changed, whose key is past its expiry-time or
// whose certificate is past its validity, is closed at once and its uploads
// abort. It returns how many sessions it closed.
func (s *Server) Recheck() int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	closed := 0
	for _, c := range conns {
		if c.recheck() {
			closed++
		}
	}
	return closed
}

// recheck closes the connection if its login no longer holds; it reports
// whether it did.
func (c *conn) recheck() bool {
	c.mu.Lock()
	t, key := c.tenant, c.key
	c.mu.Unlock()
	if t == nil || c.ctx.Err() != nil {
		return false
	}
	cause := c.s.loginLapsed(t, key, addrOf(c.nc.RemoteAddr()), c.s.now())
	if cause == nil {
		return false
	}
	c.log.LogAttrs(c.ctx, slog.LevelWarn, "session closed: its login no longer holds", slog.String("reason", cause.Error()))
	c.close(cause)
	return true
}

// loginLapsed says why a login as t with key (a certificate, or nil for a
// password alone) from addr no longer holds at now, or returns nil.
func (s *Server) loginLapsed(t *auth.Tenant, key ssh.PublicKey, addr netip.Addr, now time.Time) error {
	var cur *auth.Tenant
	var err error
	if cert, ok := key.(*ssh.Certificate); ok {
		if err := s.UserCAs.Check(t.User, cert, addr, now); err != nil {
			return fmt.Errorf("revoked: %w", err)
		}
		key = nil // the user is then held by name
	}
	if key != nil {
		cur, err = s.Users.Lookup(t.User, key)
	} else {
		cur, err = s.Users.Tenant(t.User)
	}
	if err != nil {
		return errRevoked
	}
	if err := s.Users.Permit(t.User, key, addr, now); err != nil {
		return fmt.Errorf("revoked: %w", err)
	}
	switch {
	case !cur.SamePassword(t):
		return errPasswordChanged
	case !cur.SameReach(t):
		return errTenantChanged
	}
	return nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var (
	errShutdown        = errors.New("server shutting down")
	errDrainTimeout    = errors.New("drain timeout: transfer cut off by shutdown")
	errIdle            = errors.New("idle timeout")
	errKeepalive       = errors.New("keepalive unanswered")
	errClientGone      = errors.New("connection closed")
	errAuthFailed      = errors.New("authentication failed")
	errRevoked         = errors.New("revoked: the user or key was removed from the configuration")
	errTenantChanged   = errors.New("revoked: the user's home, bucket, folders or permissions changed; log in again")
	errPasswordChanged = errors.New("revoked: the user's password changed; log in again")
	errDraining        = errors.New("server is shutting down: try again in a moment")
)
