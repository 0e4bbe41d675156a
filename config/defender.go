package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defender is the brute-force defence: failed logins are counted per
// source address and per user name in a sliding window; past a threshold
// the address is refused at accept, before the SSH handshake.
type Defender struct {
	// Enabled turns the defender on (the default).
	Enabled bool `toml:"enabled"`
	// IPFailures failed logins from one address within Window ban it. A
	// failed login is a connection that ended without logging in after
	// a refused authentication attempt.
	IPFailures int `toml:"ip_failures"`
	// UserFailures failed logins for one user name within Window, from
	// any address, get every address that fails for it again banned at
	// once. The account is never locked.
	UserFailures int      `toml:"user_failures"`
	Window       Duration `toml:"window"`
	// BanTime is the first ban; each repeat doubles it up to BanTimeMax.
	BanTime    Duration `toml:"ban_time"`
	BanTimeMax Duration `toml:"ban_time_max"`
	// Allow lists CIDRs never banned nor capped per address.
	Allow []string `toml:"allow"`
	// MaxUnauthenticatedPerIP and MaxUnauthenticated cap the connections
	// still in the handshake, per address and in total; 0 = no cap.
	MaxUnauthenticatedPerIP int `toml:"max_unauthenticated_per_ip"`
	MaxUnauthenticated      int `toml:"max_unauthenticated"`
	// EarlyDrop is OpenSSH's MaxStartups "start:rate" with
	// MaxUnauthenticated as full: from start connections in the handshake,
	// a new one is refused with a probability of rate percent, rising
	// linearly to 100 at MaxUnauthenticated. "" is a quarter of
	// MaxUnauthenticated and 30; "off" refuses only at the cap.
	EarlyDrop string `toml:"early_drop"`
	// MaxSessionsPerUser caps the logged-in connections of one user; 0 = no cap.
	MaxSessionsPerUser int `toml:"max_sessions_per_user"`

	// AllowPrefixes is Allow parsed.
	AllowPrefixes []netip.Prefix `toml:"-"`
	// EarlyDropStart and EarlyDropRate are EarlyDrop parsed; a start of 0
	// is off.
	EarlyDropStart int `toml:"-"`
	EarlyDropRate  int `toml:"-"`
}

func defaultDefender() Defender {
	return Defender{
		Enabled: true, IPFailures: 10, UserFailures: 50, Window: Duration{10 * time.Minute},
		BanTime: Duration{15 * time.Minute}, BanTimeMax: Duration{24 * time.Hour},
		MaxUnauthenticatedPerIP: 16, MaxUnauthenticated: 256, MaxSessionsPerUser: 64,
		EarlyDropStart: 64, EarlyDropRate: 30,
	}
}

func (l *loader) validateDefender(d *Defender) {
	for _, c := range []struct {
		key string
		n   int
	}{
		{"defender.ip_failures", d.IPFailures}, {"defender.user_failures", d.UserFailures},
		{"defender.max_unauthenticated_per_ip", d.MaxUnauthenticatedPerIP},
		{"defender.max_unauthenticated", d.MaxUnauthenticated}, {"defender.max_sessions_per_user", d.MaxSessionsPerUser},
	} {
		if c.n < 0 {
			l.errf(c.key, "must be 0 (no limit) or more, got %d", c.n)
		}
	}
	if d.Enabled && d.IPFailures == 0 && !l.failed["defender.ip_failures"] {
		l.errf("defender.ip_failures", "must be at least 1 (set enabled = false to turn the defender off)")
	}
	for _, c := range []struct {
		key string
		d   Duration
	}{{"defender.window", d.Window}, {"defender.ban_time", d.BanTime}, {"defender.ban_time_max", d.BanTimeMax}} {
		if c.d.Duration <= 0 && !l.failed[c.key] {
			l.errf(c.key, "must be greater than 0")
		}
	}
	if d.BanTimeMax.Duration < d.BanTime.Duration {
		l.errf("defender.ban_time_max", "must be at least ban_time (%v), got %v", d.BanTime.Duration, d.BanTimeMax.Duration)
	}
	l.earlyDrop(d)
	d.AllowPrefixes = nil
	for i, s := range d.Allow {
		p, err := parseCIDR(s)
		if err != nil {
			l.errf(fmt.Sprintf("defender.allow[%d]", i), "%v", err)
			continue
		}
		d.AllowPrefixes = append(d.AllowPrefixes, p)
	}
}

// earlyDrop parses EarlyDrop into EarlyDropStart and EarlyDropRate.
func (l *loader) earlyDrop(d *Defender) {
	const key, rate = "defender.early_drop", 30
	d.EarlyDropStart, d.EarlyDropRate = 0, 0
	full := d.MaxUnauthenticated
	switch d.EarlyDrop {
	case "off":
		return
	case "":
		if full >= 4 {
			d.EarlyDropStart, d.EarlyDropRate = full/4, rate
		}
		return
	}
	a, b, ok := strings.Cut(d.EarlyDrop, ":")
	start, err1 := strconv.Atoi(a)
	pct, err2 := strconv.Atoi(b)
	switch {
	case !ok || err1 != nil || err2 != nil:
		l.errf(key, "%q is not START:RATE, such as \"64:30\" (from 64 connections in the handshake, refuse 30%% of new ones, rising to all at max_unauthenticated), or \"off\"", d.EarlyDrop)
	case full == 0:
		l.errf(key, "needs max_unauthenticated, where every new connection is refused; set it or early_drop = \"off\"")
	case start < 1 || start >= full:
		l.errf(key, "start must be from 1 to below max_unauthenticated (%d), got %d", full, start)
	case pct < 1 || pct > 100:
		l.errf(key, "rate must be a percentage from 1 to 100, got %d", pct)
	default:
		d.EarlyDropStart, d.EarlyDropRate = start, pct
	}
}

// parseCIDR parses "10.0.0.0/8" or a single address (a /32 or /128).
func parseCIDR(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as \"192.0.2.0/24\" or an address", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set: did you mean %q?", s, p.Masked())
	}
	return p, nil
}

// allowFrom parses the allow_from of the user at path.
func (l *loader) allowFrom(u *User, path string) {
	u.AllowFromPrefixes = nil
	if u.AllowFrom == nil {
		return
	}
	if len(u.AllowFrom) == 0 {
		l.errf(path+".allow_from", "empty list allows no address: omit allow_from to allow any, or list some")
	}
	u.AllowFromPrefixes = []netip.Prefix{}
	for i, s := range u.AllowFrom {
		p, err := parseCIDR(s)
		if err != nil {
			l.errf(fmt.Sprintf("%s.allow_from[%d]", path, i), "%v", err)
			continue
		}
		u.AllowFromPrefixes = append(u.AllowFromPrefixes, p)
	}
}
