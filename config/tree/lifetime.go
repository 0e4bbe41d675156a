package tree

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/auth"
)

// Lifetime is a folder's retention or wait, written as a string with
// d, h, m and s units ("30d", "48h", "1d12h", "20s"): retentions are
// counted in days, which time.ParseDuration does not know.
type Lifetime struct{ time.Duration }

// UnmarshalText parses a lifetime with ParseDuration.
func (l *Lifetime) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number and a unit, such as \"30d\", \"48h\" or \"20s\"", text)
	}
	l.Duration = v
	return nil
}

// MarshalText formats l as time.Duration.String does.
func (l Lifetime) MarshalText() ([]byte, error) { return []byte(l.Duration.String()), nil }

// TOMLHint says what a lifetime looks like (stricttoml.Hinter).
func (Lifetime) TOMLHint() string { return `a duration string such as "30d" or "48h"` }

// ParseDuration is time.ParseDuration with whole days: a leading "Nd"
// (24 hours each), alone or followed by the units it knows ("1d12h").
func ParseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil || days == "" || strings.HasPrefix(days, "+") {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil || r < 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d + r, nil
}

// MinRetention is the shortest retention or wait a folder may have: short
// enough for a trial ("20s"), long enough that a sweep (every quarter of
// it, at least every 5s) keeps up.
const MinRetention = 10 * time.Second

// Lifecycle is f's policy for its files.
func (f Folder) Lifecycle() auth.Lifecycle {
	return auth.Lifecycle{DeleteAfterDownload: f.DeleteAfterDownload, Retention: f.Retention.Duration, NotPickedUpAfter: f.NotPickedUpAfter.Duration}
}

// CheckLifecycle checks the lifecycle keys of the folder at key, whose
// permissions are perms (omitted: the user's, checked per user by Resolve).
func CheckLifecycle(key string, f Folder, perms []string) []Problem {
	var ps []Problem
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"retention", f.Retention.Duration}, {"not_picked_up_after", f.NotPickedUpAfter.Duration}} {
		if v.d != 0 && v.d < MinRetention {
			ps = append(ps, problem(key+"."+v.name, "%s is below the minimum of %s", v.d, MinRetention))
		}
	}
	if r, n := f.Retention.Duration, f.NotPickedUpAfter.Duration; r >= MinRetention && n >= r {
		ps = append(ps, problem(key+".not_picked_up_after", "%s is not shorter than the retention %s: files are deleted before anyone is told they wait", n, r))
	}
	if f.DeleteAfterDownload && perms != nil {
		p, _ := auth.ParsePerms(perms) // names are config's to check
		ps = append(ps, pickupPerms(key, p, "")...)
	}
	return ps
}

// pickupPerms checks that a folder with delete_after_download lets its
// users download (or nothing triggers a pickup) and delete (a pickup is
// the user's delete, made as the user's role where it has one); of is
// " for user NAME" when the permissions are a user's.
func pickupPerms(key string, p auth.Perms, of string) []Problem {
	var ps []Problem
	if !p.Has(auth.PermRead) {
		ps = append(ps, problem(key+".delete_after_download", "needs \"read\" in the folder's permissions%s: without it no download can trigger a pickup", of))
	}
	if !p.Has(auth.PermDelete) {
		ps = append(ps, problem(key+".delete_after_download", "needs \"delete\" in the folder's permissions%s: a pickup deletes the file as the user (under its role_arn, if any)", of))
	}
	return ps
}
