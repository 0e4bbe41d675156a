package auth

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

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

// Permit checks a login's restrictions against the map in force.
func (l *Live) Permit(name string, key ssh.PublicKey, addr netip.Addr, now time.Time) error {
	return l.p.Load().Permit(name, key, addr, now)
}

// CheckPassword checks a password login against the map in force.
func (l *Live) CheckPassword(name, pw string) (*Tenant, error) {
	return l.p.Load().CheckPassword(name, pw)
}

// Tenant is the current Tenant of a user in the map in force.
func (l *Live) Tenant(name string) (*Tenant, error) { return l.p.Load().Tenant(name) }

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
		out = append(out, folderChanges(name, o.Folders, n.Folders)...)
		if o.Perms != n.Perms {
			out = append(out, fmt.Sprintf("user %s: permissions changed from [%s] to [%s]", name, o.Perms, n.Perms))
		}
		if o.RoleARN != n.RoleARN || o.ExternalID != n.ExternalID {
			out = append(out, fmt.Sprintf("user %s: role changed from %q to %q", name, o.RoleARN, n.RoleARN)) // the external id is a shared secret of sorts: not named
		}
		if !slices.Equal(o.AllowFrom, n.AllowFrom) {
			out = append(out, fmt.Sprintf("user %s: allow_from changed from %v to %v", name, o.AllowFrom, n.AllowFrom))
		}
		if o.Methods != n.Methods {
			out = append(out, fmt.Sprintf("user %s: authentication methods changed", name))
		}
		if !reflect.DeepEqual(o.Password, n.Password) { // never printed: it is hash material
			out = append(out, fmt.Sprintf("user %s: password changed", name))
		}
		if o.Limits != n.Limits {
			out = append(out, fmt.Sprintf("user %s: limits changed to %+v (new sessions)", name, n.Limits))
		}
		if o.LegacyRSASHA1 != n.LegacyRSASHA1 {
			out = append(out, fmt.Sprintf("user %s: legacy_rsa_sha1 changed to %v", name, n.LegacyRSASHA1))
		}
		was, is := fingerprints(o.Keys), fingerprints(n.Keys)
		wasOpts, isOpts := keyOptions(o), keyOptions(n)
		for _, fp := range is {
			if w, ok := wasOpts[fp]; ok && w != isOpts[fp] {
				out = append(out, fmt.Sprintf("user %s: key %s options changed", name, fp))
			}
		}
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

// keyOptions maps the fingerprint of each key of usr to its options, printed.
func keyOptions(usr *User) map[string]string {
	m := make(map[string]string, len(usr.Keys))
	for i, k := range usr.Keys {
		var ko KeyOptions
		if i < len(usr.KeyOptions) {
			ko = usr.KeyOptions[i]
		}
		m[Fingerprint(k)] = fmt.Sprint(ko)
	}
	return m
}

// folderChanges lists the folders added, removed or changed from was to is.
func folderChanges(name string, was, is []Folder) []string {
	var out []string
	find := func(fs []Folder, path string) (Folder, bool) {
		i := slices.IndexFunc(fs, func(f Folder) bool { return f.Path == path })
		if i < 0 {
			return Folder{}, false
		}
		return fs[i], true
	}
	for _, w := range was {
		if _, ok := find(is, w.Path); !ok {
			out = append(out, fmt.Sprintf("user %s: folder %s removed", name, w.Path))
		}
	}
	for _, f := range is {
		w, ok := find(was, f.Path)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("user %s: folder %s added at %s/%s [%s]", name, f.Path, f.Bucket, f.Prefix, f.Perms))
		case w.Bucket != f.Bucket || w.Prefix != f.Prefix:
			out = append(out, fmt.Sprintf("user %s: folder %s changed from %s/%s to %s/%s", name, f.Path, w.Bucket, w.Prefix, f.Bucket, f.Prefix))
		case w.Perms != f.Perms:
			out = append(out, fmt.Sprintf("user %s: folder %s permissions changed from [%s] to [%s]", name, f.Path, w.Perms, f.Perms))
		}
	}
	return out
}
