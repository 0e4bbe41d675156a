package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"
)

// ErrRestricted wraps the reason a right key is refused: expired, or used
// from an address its options or the user's allow_from do not allow. The
// reason goes to the log and the audit trail, never to the client.
var ErrRestricted = errors.New("key restricted")

// KeyOptions are the authorized_keys options s3sftpd enforces. Options that
// grant or restrict what s3sftpd never offers (pty, forwarding, X11, agent,
// user rc) are accepted and change nothing; every other option is refused
// when parsed, so a restriction the admin wrote is never silently dropped.
type KeyOptions struct {
	// From is the from="…" pattern list: addresses with * and ?
	// wildcards, or CIDRs; a pattern starting with "!" refuses what it
	// matches. Nil means any address.
	From []string
	// Expiry is expiry-time="…": the key is refused from this instant
	// on. Zero means never.
	Expiry time.Time
}

// noOpOptions restrict what s3sftpd never allows anyway.
var noOpOptions = map[string]bool{
	"restrict": true, "no-pty": true, "no-port-forwarding": true, "no-agent-forwarding": true,
	"no-x11-forwarding": true, "no-user-rc": true,
}

// ParseKeyOptions parses the options of one authorized_keys line, as
// ssh.ParseAuthorizedKey returns them. Times without a trailing "Z" are in
// loc, as OpenSSH reads them in the system time zone.
func ParseKeyOptions(opts []string, loc *time.Location) (KeyOptions, error) {
	var ko KeyOptions
	for _, o := range opts {
		name, value, hasValue := strings.Cut(o, "=")
		switch lname := strings.ToLower(name); {
		case lname == "from" && hasValue:
			if ko.From != nil {
				return KeyOptions{}, errors.New(`from= is given twice`)
			}
			pats, err := parseFrom(unquote(value))
			if err != nil {
				return KeyOptions{}, err
			}
			ko.From = pats
		case lname == "expiry-time" && hasValue:
			if !ko.Expiry.IsZero() {
				return KeyOptions{}, errors.New(`expiry-time= is given twice`)
			}
			t, err := parseExpiry(unquote(value), loc)
			if err != nil {
				return KeyOptions{}, err
			}
			ko.Expiry = t
		case noOpOptions[lname] && !hasValue:
		default:
			return KeyOptions{}, fmt.Errorf("key option %q is not supported (only from=, expiry-time= and the no-* restrictions are): remove it, or the key would work without it", name)
		}
	}
	return ko, nil
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return strings.ReplaceAll(v, `\"`, `"`)
}

// parseFrom checks a from= pattern list. Host names are refused: s3sftpd
// does no reverse DNS (like OpenSSH's default UseDNS no), so a name would
// never match and the key would silently stop working.
func parseFrom(list string) ([]string, error) {
	var pats []string
	positive := false
	for p := range strings.SplitSeq(list, ",") {
		p = strings.TrimSpace(p)
		body := strings.TrimPrefix(p, "!")
		if body == "" {
			return nil, fmt.Errorf("from=%q: empty pattern", list)
		}
		if strings.Contains(body, "/") {
			if _, err := netip.ParsePrefix(body); err != nil {
				return nil, fmt.Errorf("from=%q: %q is not a CIDR", list, body)
			}
		} else if strings.Trim(body, "0123456789abcdefABCDEF.:*?") != "" {
			return nil, fmt.Errorf("from=%q: %q is a host name; s3sftpd matches addresses only (no reverse DNS): use addresses, wildcards such as 192.0.2.* or CIDRs", list, body)
		} else if _, err := path.Match(strings.ToLower(body), ""); err != nil {
			return nil, fmt.Errorf("from=%q: bad pattern %q", list, body)
		}
		positive = positive || !strings.HasPrefix(p, "!")
		pats = append(pats, p)
	}
	if !positive {
		return nil, fmt.Errorf("from=%q: only negated patterns match nothing; add the addresses allowed", list)
	}
	return pats, nil
}

// parseExpiry reads YYYYMMDD[HHMM[SS]][Z].
func parseExpiry(s string, loc *time.Location) (time.Time, error) {
	v := s
	if strings.HasSuffix(v, "Z") {
		v, loc = strings.TrimSuffix(v, "Z"), time.UTC
	}
	layout := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}[len(v)]
	t, err := time.ParseInLocation(layout, v, loc)
	if layout == "" || err != nil {
		return time.Time{}, fmt.Errorf("expiry-time=%q: want YYYYMMDD[HHMM[SS]] with an optional Z for UTC", s)
	}
	if t.Year() < 1970 { // a typo (00000110), never a real expiry: refuse rather than expire the key silently
		return time.Time{}, fmt.Errorf("expiry-time=%q: the year must be 1970 or later", s)
	}
	return t, nil
}

// MatchFrom reports whether addr passes a from= list: no negated pattern
// matches it and some other pattern does.
func MatchFrom(pats []string, addr netip.Addr) bool {
	ok := false
	for _, p := range pats {
		neg := strings.HasPrefix(p, "!")
		if matchAddr(strings.TrimPrefix(p, "!"), addr) {
			if neg {
				return false
			}
			ok = true
		}
	}
	return ok
}

func matchAddr(pat string, addr netip.Addr) bool {
	if strings.Contains(pat, "/") {
		pfx, err := netip.ParsePrefix(pat)
		return err == nil && pfx.Contains(addr)
	}
	m, _ := path.Match(strings.ToLower(pat), addr.String())
	return m
}

// permit checks the restrictions of a user and one of its keys for a login
// from addr at now.
func permit(usr *User, ko KeyOptions, addr netip.Addr, now time.Time) error {
	if !ko.Expiry.IsZero() && !now.Before(ko.Expiry) {
		return fmt.Errorf("%w: key expired at %s", ErrRestricted, ko.Expiry.UTC().Format(time.RFC3339))
	}
	if ko.From != nil && !MatchFrom(ko.From, addr) {
		return fmt.Errorf("%w: address %s not allowed by the key's from=%q", ErrRestricted, addr, strings.Join(ko.From, ","))
	}
	if usr.AllowFrom != nil {
		for _, p := range usr.AllowFrom {
			if p.Contains(addr) {
				return nil
			}
		}
		return fmt.Errorf("%w: address %s not in the user's allow_from", ErrRestricted, addr)
	}
	return nil
}
