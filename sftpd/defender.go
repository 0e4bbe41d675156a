package sftpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// DefenderConfig is the brute-force defence. A connection that ends without
// logging in after at least one failed authentication attempt is one failed
// login (an agent offering several keys before the right one is not a
// failure). Zero limits are no limit.
type DefenderConfig struct {
	// IPFailures failed logins from one address within Window ban it.
	IPFailures int
	// UserFailures failed logins for one user name within Window, from any
	// address, make every address that fails for that name again banned at
	// once. The account itself is never locked, so an attacker cannot lock
	// a partner out.
	UserFailures int
	Window       time.Duration
	// BanTime is the first ban of an address; each further ban doubles it,
	// up to BanTimeMax. An address not banned for BanTimeMax starts over.
	BanTime, BanTimeMax time.Duration
	// Allow lists the networks that are never banned nor capped per address
	// (monitoring hosts, the load balancer's health checks).
	Allow []netip.Prefix
	// MaxUnauthPerIP and MaxUnauth cap the connections that have not logged
	// in yet, per address and in total; more are closed at accept.
	MaxUnauthPerIP, MaxUnauth int
	// MaxSessionsPerUser caps the logged-in connections of one user.
	MaxSessionsPerUser int
}

// defender keeps the failure counts, bans and connection counts. Its log
// lines and audit records are the only trace of a ban.
type defender struct {
	cfg   DefenderConfig
	log   *slog.Logger
	audit *audit.Log
	now   func() time.Time

	mu          sync.Mutex
	ipFails     map[netip.Addr][]time.Time
	userFails   map[string][]time.Time
	bans        map[netip.Addr]*ban
	unauth      map[netip.Addr]int
	unauthTotal int
	sessions    map[string]int
}

// ban is one address's ban, kept after it expires to make the next one longer.
type ban struct {
	until   time.Time
	strikes int  // bans so far
	active  bool // until is in the future and the unban was not recorded yet
	refused int  // connections closed at accept during this ban
}

func newDefender(cfg DefenderConfig, log *slog.Logger, a *audit.Log, now func() time.Time) *defender {
	return &defender{cfg: cfg, log: log, audit: a, now: now,
		ipFails: map[netip.Addr][]time.Time{}, userFails: map[string][]time.Time{},
		bans: map[netip.Addr]*ban{}, unauth: map[netip.Addr]int{}, sessions: map[string]int{}}
}

// addrOf is the client address of a connection, IPv4-mapped addresses unmapped.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

func (d *defender) allowed(ip netip.Addr) bool {
	for _, p := range d.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// admit decides at accept, before any byte of SSH, whether a connection from
// ip may proceed; if so it counts as unauthenticated until release.
func (d *defender) admit(ip netip.Addr) (ok bool, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked()
	exempt := d.allowed(ip)
	if b := d.bans[ip]; b != nil && b.active && !exempt {
		b.refused++
		return false, "banned"
	}
	if !exempt && d.cfg.MaxUnauthPerIP > 0 && d.unauth[ip] >= d.cfg.MaxUnauthPerIP {
		return false, "too many unauthenticated connections from this address"
	}
	if d.cfg.MaxUnauth > 0 && d.unauthTotal >= d.cfg.MaxUnauth {
		return false, "too many unauthenticated connections"
	}
	d.unauth[ip]++
	d.unauthTotal++
	return true, ""
}

// release ends the unauthenticated phase of an admitted connection: it logged
// in, or it ended.
func (d *defender) release(ip netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unauthTotal--
	if d.unauth[ip]--; d.unauth[ip] <= 0 {
		delete(d.unauth, ip)
	}
}

// failed counts a failed login from ip that tried the given user names, and
// bans ip when it crosses a threshold.
func (d *defender) failed(ip netip.Addr, users []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.allowed(ip) {
		return
	}
	now := d.now()
	if b := d.bans[ip]; b != nil && b.active {
		return // connections admitted before the ban still end
	}
	reason := ""
	for _, u := range users {
		f := append(recent(d.userFails[u], now, d.cfg.Window), now)
		d.userFails[u] = f
		if d.cfg.UserFailures > 0 && len(f) > d.cfg.UserFailures && reason == "" {
			reason = fmt.Sprintf("failed login for user %q, which had %d failed logins within %v", u, len(f)-1, d.cfg.Window)
		}
	}
	f := append(recent(d.ipFails[ip], now, d.cfg.Window), now)
	d.ipFails[ip] = f
	if d.cfg.IPFailures > 0 && len(f) >= d.cfg.IPFailures && reason == "" {
		reason = fmt.Sprintf("%d failed logins within %v", len(f), d.cfg.Window)
	}
	if reason != "" {
		d.banLocked(ip, now, reason)
	}
}

// recent drops the times older than window from ts, which is in time order.
func recent(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= window {
		i++
	}
	return ts[i:]
}

func (d *defender) banLocked(ip netip.Addr, now time.Time, reason string) {
	b := d.bans[ip]
	if b == nil {
		b = &ban{}
		d.bans[ip] = b
	}
	b.strikes++
	dur := d.cfg.BanTime
	for i := 1; i < b.strikes && dur < d.cfg.BanTimeMax; i++ {
		dur *= 2
	}
	dur = min(dur, d.cfg.BanTimeMax)
	b.until, b.active, b.refused = now.Add(dur), true, 0
	delete(d.ipFails, ip)
	// The trail first: a log line announcing a ban means the trail has it.
	d.record(audit.Record{Event: audit.EventBan, Result: audit.ResultDenied, Remote: ip.String(), Reason: reason,
		DurMS: audit.Int(dur.Milliseconds())})
	d.log.Warn("address banned", "remote", ip.String(), "ban", dur.String(), "strike", b.strikes, "reason", reason)
}

// expireLocked lifts the bans that ran out and forgets what is too old to
// matter, so the maps stay as small as the attack of the last window.
func (d *defender) expireLocked() {
	now := d.now()
	for ip, b := range d.bans {
		if b.active && !now.Before(b.until) {
			b.active = false
			d.record(audit.Record{Event: audit.EventUnban, Result: audit.ResultOK, Remote: ip.String(),
				Reason: fmt.Sprintf("ban expired; %d connections refused during it", b.refused)})
			d.log.Info("address unbanned", "remote", ip.String(), "refused", b.refused)
		}
		if !b.active && now.Sub(b.until) >= d.cfg.BanTimeMax {
			delete(d.bans, ip)
		}
	}
	for ip, f := range d.ipFails {
		if len(recent(f, now, d.cfg.Window)) == 0 {
			delete(d.ipFails, ip)
		}
	}
	for u, f := range d.userFails {
		if len(recent(f, now, d.cfg.Window)) == 0 {
			delete(d.userFails, u)
		}
	}
}

func (d *defender) record(r audit.Record) {
	if d.audit != nil {
		d.audit.Write(r)
	}
}

// sessionStart counts a login of user; false when the user has its maximum.
func (d *defender) sessionStart(user string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg.MaxSessionsPerUser > 0 && d.sessions[user] >= d.cfg.MaxSessionsPerUser {
		return false
	}
	d.sessions[user]++
	return true
}

func (d *defender) sessionEnd(user string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sessions[user]--; d.sessions[user] <= 0 {
		delete(d.sessions, user)
	}
}

// sweep lifts expired bans every second while stop is open, so an unban is
// logged when it happens and not at the next connection.
func (d *defender) sweep(stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			d.mu.Lock()
			d.expireLocked()
			d.mu.Unlock()
		}
	}
}

// admitConn applies the bans and the caps at accept; false means nc must be
// closed without a word (a banned client learns nothing from a banner).
func (s *Server) admitConn(nc net.Conn) bool {
	if s.def == nil {
		return true
	}
	ip := addrOf(nc.RemoteAddr())
	ok, reason := s.def.admit(ip)
	if !ok {
		s.Logger.LogAttrs(context.Background(), slog.LevelDebug, "connection refused at accept",
			slog.String("remote", nc.RemoteAddr().String()), slog.String("reason", reason))
	}
	return ok
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
	d.release(ip)
	if user == "" {
		if len(c.failedUsers) > 0 {
			d.failed(ip, c.failedUsers)
		}
		return false
	}
	if !d.sessionStart(user) {
		c.log.LogAttrs(c.ctx, slog.LevelWarn, "login refused: too many sessions", slog.Int("max", d.cfg.MaxSessionsPerUser))
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
		c.s.def.sessionEnd(c.sessionUser)
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
func (s *Server) unadmit(nc net.Conn) {
	if s.def != nil {
		s.def.release(addrOf(nc.RemoteAddr()))
	}
}
