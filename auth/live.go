package auth

import (
	"fmt"
	"slices"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// Live is the user map in force. A reload replaces the whole snapshot at
// once, so a login is checked against the old map or the new one, never a
// mix of both.
type Live struct {
	p atomic.Pointer[Users]
}

// NewLive starts with users in force.
func NewLive(users *Users) *Live {
	l := &Live{}
	l.p.Store(users)
	return l
}

// Lookup checks a login against the map in force.
func (l *Live) Lookup(name string, key ssh.PublicKey) (*Tenant, error) {
	return l.p.Load().Lookup(name, key)
}

// Users is the map in force.
func (l *Live) Users() *Users { return l.p.Load() }

// Swap puts users in force and returns the map it replaces.
func (l *Live) Swap(users *Users) *Users { return l.p.Swap(users) }

// Diff lists what changed from old to new, one line per user or key added,
// removed or changed, for the audit trail and the log. Keys are named by
// fingerprint only.
func Diff(old, new *Users) []string {
	var out []string
	for _, name := range sortedNames(old) {
		if _, ok := new.byName[name]; !ok {
			out = append(out, fmt.Sprintf("user %s removed", name))
		}
	}
	for _, name := range sortedNames(new) {
		n := new.byName[name]
		o, ok := old.byName[name]
		if !ok {
			out = append(out, fmt.Sprintf("user %s added with %d key(s)", name, len(n.Keys)))
			continue
		}
		if o.Bucket != n.Bucket || o.Home != n.Home {
			out = append(out, fmt.Sprintf("user %s: home changed from %s/%s to %s/%s", name, o.Bucket, o.Home, n.Bucket, n.Home))
		}
		if o.Perms != n.Perms {
			out = append(out, fmt.Sprintf("user %s: permissions changed from [%s] to [%s]", name, o.Perms, n.Perms))
		}
		if o.RoleARN != n.RoleARN || o.ExternalID != n.ExternalID {
			out = append(out, fmt.Sprintf("user %s: role changed from %q to %q", name, o.RoleARN, n.RoleARN)) // the external id is a shared secret of sorts: not named
		}
		was, is := fingerprints(o.Keys), fingerprints(n.Keys)
		for _, fp := range was {
			if !slices.Contains(is, fp) {
				out = append(out, fmt.Sprintf("user %s: key %s removed", name, fp))
			}
		}
		for _, fp := range is {
			if !slices.Contains(was, fp) {
				out = append(out, fmt.Sprintf("user %s: key %s added", name, fp))
			}
		}
	}
	return out
}

func sortedNames(u *Users) []string {
	var names []string
	for name := range u.byName {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func fingerprints(keys []ssh.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = Fingerprint(k)
	}
	return out
}
