package sftpd

// Where the server meets the defender (package defender): at accept, at the
// end of the handshake, and when a session ends.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/s3sftpd/s3sftpd/defender"
)

// addrOf is the client address of a connection, IPv4-mapped addresses unmapped.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// admitConn applies the bans and the caps at accept; false means nc must be
// closed without a word (a banned client learns nothing from a banner). The
// slot it returns (nil without a defender) goes to unadmit, or to
// handshakeDone.
func (s *Server) admitConn(nc net.Conn) (*defender.Slot, bool) {
	if s.def == nil {
		return nil, true
	}
	p, reason := s.def.Admit(addrOf(nc.RemoteAddr()), func() { nc.Close() })
	if p == nil {
		s.Logger.LogAttrs(context.Background(), slog.LevelDebug, "connection refused at accept",
			slog.String("remote", nc.RemoteAddr().String()), slog.String("reason", reason))
	}
	return p, p != nil
}

// handshakeDone ends the unauthenticated phase of c: a failed login is
// counted, a successful one takes a session of the user's maximum. It
// reports whether the connection may go on.
func (c *conn) handshakeDone(user string) bool {
	d := c.s.def
	if d == nil {
		return true
	}
	ip := addrOf(c.nc.RemoteAddr())
	d.Release(c.admitted)
	if user == "" {
		if len(c.failedUsers) > 0 {
			d.Failed(ip, c.failedUsers)
		}
		return false
	}
	d.LoggedIn(ip)
	if !d.SessionStart(user) {
		c.log.LogAttrs(c.ctx, slog.LevelWarn, "login refused: too many sessions", slog.Int("max", c.s.Defender.MaxSessionsPerUser))
		c.refused("session", "too many concurrent sessions for this user")
		c.cancel(errTooManySessions)
		return false
	}
	c.sessionUser = user
	return true
}

// sessionDone gives back the session handshakeDone took.
func (c *conn) sessionDone() {
	if c.s.def != nil && c.sessionUser != "" {
		c.s.def.SessionEnd(c.sessionUser)
	}
}

// noteFailure remembers a user name that failed to authenticate on c.
func (c *conn) noteFailure(user string) {
	if !slices.Contains(c.failedUsers, user) && len(c.failedUsers) < 8 {
		c.failedUsers = append(c.failedUsers, user)
	}
}

var errTooManySessions = errors.New("too many concurrent sessions for this user")

// unadmit undoes admitConn for a connection that is closed before serving.
func (s *Server) unadmit(p *defender.Slot) {
	if s.def != nil {
		s.def.Release(p)
	}
}

// errEvicted ends a connection still in the handshake whose slot went to a
// newer one (victimLocked).
var errEvicted = errors.New("closed to make room: too many connections still in the handshake")
