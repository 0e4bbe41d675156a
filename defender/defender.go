// Package defender is the brute-force defence and the connection caps
// that sftpd applies before a login: failed logins per address and per
// user name ban addresses, for longer at each strike; connections still in
// the handshake are capped per source and in total (OpenSSH's MaxStartups,
// with known partners never locked out by idle sockets from elsewhere); and
// logged-in sessions are capped per user. It sees addresses and user
// names, never a key or a password, and knows nothing of SSH.
package defender

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// Config is the brute-force defence. A connection that ends without
// logging in after at least one failed authentication attempt is one failed
// login (an agent offering several keys before the right one is not a
// failure). Zero limits are no limit.
type Config struct {
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
	// in yet, per source and in total; more are closed at accept, or take
	// the slot of another source's (see victimLocked).
	MaxUnauthPerIP, MaxUnauth int
	// EarlyDropStart and EarlyDropRate are OpenSSH's MaxStartups start and
	// rate, with MaxUnauth as full: from EarlyDropStart connections in the
	// handshake, a new one is refused with a probability of EarlyDropRate
	// percent, rising linearly to 100 at MaxUnauth, so a flood is thinned
	// out before the cap is reached. 0 refuses only at MaxUnauth.
	EarlyDropStart, EarlyDropRate int
	// MaxSessionsPerUser caps the logged-in connections of one user.
	MaxSessionsPerUser int
}

// Defender keeps the failure counts, bans and connection counts. Its log
// lines and audit records are the only trace of a ban.
type Defender struct {
	cfg   Config
	log   *slog.Logger
	audit *audit.Log
	now   func() time.Time
	rand  func(n int) int // in [0, n), for the early drop

	mu          sync.Mutex
	ipFails     map[source][]time.Time
	userFails   map[string][]time.Time // keys bounded by audit.Bound
	bans        map[source]*ban
	unauth      map[source][]*Slot // oldest first
	unauthTotal int
	known       map[source]time.Time // when the source last logged in
	fullWarned  time.Time            // the last warning that the handshake slots were full
	sessions    map[string]int
}

// source is what the caps and bans count: an IPv4 address, or the /64 of an
// IPv6 address, since one host or site gets a whole /64 and could otherwise
// open the per-address cap 2^64 times.
type source netip.Prefix

func sourceOf(ip netip.Addr) source {
	if ip.Is4() {
		return source(netip.PrefixFrom(ip, 32))
	}
	p, _ := ip.Prefix(64)
	return source(p)
}

// String is the address, or the /64 of an IPv6 one.
func (s source) String() string {
	if p := netip.Prefix(s); p.Addr().Is4() {
		return p.Addr().String()
	}
	return netip.Prefix(s).String()
}

// Slot is an admitted connection that has not logged in yet.
type Slot struct {
	src     source
	close   func()      // closes the connection, to give its slot to another
	evicted atomic.Bool // it was closed for that
	done    bool        // released or evicted, under defender.mu
}

// Evicted reports that the slot's connection was closed to give its slot
// to a newer one.
func (p *Slot) Evicted() bool { return p.evicted.Load() }

// A source that logged in within knownFor is known: when the handshake slots
// are full, its new connections take the slots of unknown sources, so idle
// sockets from elsewhere never lock a partner out. At most maxKnown sources
// are remembered, the ones that logged in longest ago forgotten first.
const (
	knownFor = 30 * 24 * time.Hour
	maxKnown = 1 << 16
)

// ban is one address's ban, kept after it expires to make the next one longer.
type ban struct {
	until   time.Time
	strikes int  // bans so far
	active  bool // until is in the future and the unban was not recorded yet
	refused int  // connections closed at accept during this ban
}

// New is a defender with cfg; a records bans (nil records none).
func New(cfg Config, log *slog.Logger, a *audit.Log, now func() time.Time) *Defender {
	return &Defender{cfg: cfg, log: log, audit: a, now: now, rand: rand.IntN,
		ipFails: map[source][]time.Time{}, userFails: map[string][]time.Time{},
		bans: map[source]*ban{}, unauth: map[source][]*Slot{}, known: map[source]time.Time{}, sessions: map[string]int{}}
}

func (d *Defender) allowed(ip netip.Addr) bool {
	for _, p := range d.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// admit decides at accept, before any byte of SSH, whether a connection from
// ip may proceed; if so it counts as unauthenticated until release, and
// closeConn closes it should another connection need its slot.
func (d *Defender) Admit(ip netip.Addr, closeConn func()) (p *Slot, reason string) {
	d.mu.Lock()
	p, victim, reason := d.admitLocked(ip, closeConn)
	d.mu.Unlock()
	if victim != nil {
		victim.close()
	}
	return p, reason
}

func (d *Defender) admitLocked(ip netip.Addr, closeConn func()) (p, victim *Slot, reason string) {
	d.expireLocked()
	now, src, exempt := d.now(), sourceOf(ip), d.allowed(ip)
	if b := d.bans[src]; b != nil && b.active && !exempt {
		b.refused++
		return nil, nil, "banned"
	}
	if !exempt && d.cfg.MaxUnauthPerIP > 0 && len(d.unauth[src]) >= d.cfg.MaxUnauthPerIP {
		return nil, nil, "too many unauthenticated connections from this address"
	}
	if drop := d.dropLocked(); drop != "" {
		if victim = d.victimLocked(src, now); victim == nil {
			d.warnFullLocked(now)
			return nil, nil, drop
		}
		d.removeLocked(victim)
		victim.evicted.Store(true)
	}
	p = &Slot{src: src, close: closeConn}
	d.unauth[src] = append(d.unauth[src], p)
	d.unauthTotal++
	return p, victim, ""
}

// dropLocked says why a new connection may not simply take a free slot: the
// cap is reached, or, from EarlyDropStart on, it lost the draw. "" when it may.
func (d *Defender) dropLocked() string {
	n, full, start, rate := d.unauthTotal, d.cfg.MaxUnauth, d.cfg.EarlyDropStart, d.cfg.EarlyDropRate
	switch {
	case full <= 0:
		return ""
	case n >= full:
		return "too many unauthenticated connections"
	case start <= 0 || start >= full || n < start:
		return ""
	}
	if d.rand(100) < rate+(100-rate)*(n-start)/(full-start) {
		return "many unauthenticated connections: dropped at random (early_drop)"
	}
	return ""
}

// victimLocked picks the connection a newcomer from src may close to take its
// slot: the oldest of the unknown source that holds the most. A known source
// may take any; another only one of a source holding at least two more than
// src does, so that a few addresses cannot keep every slot to themselves.
// nil: the newcomer is refused.
func (d *Defender) victimLocked(src source, now time.Time) *Slot {
	var most []*Slot
	for s, list := range d.unauth {
		if s != src && len(list) > len(most) && !d.knownLocked(s, now) {
			most = list
		}
	}
	if len(most) == 0 || !d.knownLocked(src, now) && len(most) < len(d.unauth[src])+2 {
		return nil
	}
	return most[0]
}

// warnFullLocked logs, at most once a minute, that new connections are being
// refused for want of a slot: a flood of idle sockets shows in the log.
func (d *Defender) warnFullLocked(now time.Time) {
	if now.Sub(d.fullWarned) < time.Minute {
		return
	}
	d.fullWarned = now
	d.log.Warn("connections refused at accept: too many still in the handshake",
		"unauthenticated", d.unauthTotal, "sources", len(d.unauth))
}

// release ends the unauthenticated phase of an admitted connection: it logged
// in, or it ended. A nil p, or one released or evicted already, is a no-op.
func (d *Defender) Release(p *Slot) {
	if p == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removeLocked(p)
}

func (d *Defender) removeLocked(p *Slot) {
	if p.done {
		return
	}
	p.done = true
	d.unauthTotal--
	list := d.unauth[p.src]
	if i := slices.Index(list, p); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(d.unauth, p.src)
	} else {
		d.unauth[p.src] = list
	}
}

// loggedIn remembers that ip's source logged in, so it is known.
func (d *Defender) LoggedIn(ip netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.known[sourceOf(ip)] = now
	if len(d.known) <= maxKnown {
		return
	}
	oldest, first := source{}, true
	for s, t := range d.known {
		if first || t.Before(d.known[oldest]) {
			oldest, first = s, false
		}
	}
	delete(d.known, oldest)
}

func (d *Defender) knownLocked(s source, now time.Time) bool {
	t, ok := d.known[s]
	return ok && now.Sub(t) < knownFor
}

// failed counts a failed login from ip that tried the given user names, and
// bans ip when it crosses a threshold.
func (d *Defender) Failed(ip netip.Addr, users []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.allowed(ip) {
		return
	}
	now, src := d.now(), sourceOf(ip)
	if b := d.bans[src]; b != nil && b.active {
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
	f := append(recent(d.ipFails[src], now, d.cfg.Window), now)
	d.ipFails[src] = f
	if d.cfg.IPFailures > 0 && len(f) >= d.cfg.IPFailures && reason == "" {
		reason = fmt.Sprintf("%d failed logins within %v", len(f), d.cfg.Window)
	}
	if reason != "" {
		d.banLocked(src, now, reason)
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

func (d *Defender) banLocked(ip source, now time.Time, reason string) {
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
func (d *Defender) expireLocked() {
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

func (d *Defender) record(r audit.Record) {
	if d.audit != nil {
		d.audit.Write(r)
	}
}

// sessionStart counts a login of user; false when the user has its maximum.
func (d *Defender) SessionStart(user string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg.MaxSessionsPerUser > 0 && d.sessions[user] >= d.cfg.MaxSessionsPerUser {
		return false
	}
	d.sessions[user]++
	return true
}

func (d *Defender) SessionEnd(user string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sessions[user]--; d.sessions[user] <= 0 {
		delete(d.sessions, user)
	}
}

// sweep lifts expired bans every second while stop is open, so an unban is
// logged when it happens and not at the next connection.
func (d *Defender) Sweep(stop <-chan struct{}) {
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
