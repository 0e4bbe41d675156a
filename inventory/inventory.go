// Package inventory answers "who can log in, with what, to where, and when
// was each key last used": the user and key inventory of `s3sftpd users`,
// and the reminders of keys about to expire that the server logs.
//
// It takes the user map as auth values and the audit trail as a stream of
// JSON lines, and reads the trail without ever holding it whole. It must
// not import config (cmd hands it plain values), touch S3, or print key
// material: keys appear only as type, size and SHA256 fingerprint.
package inventory

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
)

// ExpiryAhead is how far ahead a key's expiry-time is flagged and warned of.
const ExpiryAhead = 14 * 24 * time.Hour

// UnusedAfter is how long without a login makes a key stale.
const UnusedAfter = 90 * 24 * time.Hour

// Login is one user of the map, with what the map itself does not keep.
type Login struct {
	User auth.User
	// Comments[i] and Sources[i] are the authorized_keys comment and the
	// "file:line" of User.Keys[i].
	Comments, Sources []string
	// Groups are the groups the user belongs to, in order.
	Groups []string
	// Folders are the places in S3 the user sees: the home (if any) at
	// "/", then the folders of its groups and its own.
	Folders []Folder
}

// Folder is one place a user reaches: an SFTP path backed by an S3 prefix.
type Folder struct {
	Path   string     `json:"path"`
	Bucket string     `json:"bucket"`
	Prefix string     `json:"prefix"`
	Perms  auth.Perms `json:"-"`
	// Permissions are Perms by name, for the report.
	Permissions []string `json:"permissions"`
}

// Inventory is the whole report.
type Inventory struct {
	Generated time.Time `json:"generated"`
	// Trail is what was read of the audit trail; nil without -trail.
	Trail      *Trail `json:"trail,omitempty"`
	TrustedCAs []Key  `json:"trusted_user_cas"`
	Users      []User `json:"users"`
}

// User is one login in the report.
type User struct {
	Name    string   `json:"name"`
	Groups  []string `json:"groups"`
	Folders []Folder `json:"folders"`
	// AuthMethods must all be passed; "certificate" means a certificate
	// from a trusted CA naming the user can stand in for a listed key.
	AuthMethods []string `json:"auth_methods"`
	// AllowFrom are the networks the user may log in from; empty: any.
	AllowFrom []string `json:"allow_from"`
	Keys      []Key    `json:"keys"`
	// LastLogin is the user's last successful login by any method, with a
	// trail.
	LastLogin *Use `json:"last_login,omitempty"`
}

// Key is one listed key (or trusted CA).
type Key struct {
	Type        string     `json:"type"`
	Bits        int        `json:"bits"`
	Fingerprint string     `json:"fingerprint"`
	Comment     string     `json:"comment,omitempty"`
	Source      string     `json:"source,omitempty"`
	From        []string   `json:"from,omitempty"`
	Expiry      *time.Time `json:"expiry,omitempty"`
	LastLogin   *Use       `json:"last_login,omitempty"`
	// Flags are what needs an operator's eye: FlagExpired, FlagExpiring,
	// and with a trail FlagNeverUsed or FlagUnused.
	Flags []string `json:"flags"`
}

// Flags of a key.
const (
	FlagExpired   = "expired"        // refused from its expiry-time on
	FlagExpiring  = "expiring"       // its expiry-time is within ExpiryAhead
	FlagNeverUsed = "never_used"     // no successful login in the trail read
	FlagUnused    = "unused_90_days" // none within UnusedAfter
)

// Use is a successful login.
type Use struct {
	Time   time.Time `json:"time"`
	Remote string    `json:"remote,omitempty"`
	Method string    `json:"method,omitempty"`
	// KeyFP and CertID name the key (and certificate) of a user's last
	// login; empty on a key's own.
	KeyFP  string `json:"key_fp,omitempty"`
	CertID string `json:"cert_id,omitempty"`
}

// Build makes the inventory of logins and trusted CAs at now; usage, from
// ReadTrail, adds the last logins (nil: no trail was read).
func Build(logins []Login, cas []ssh.PublicKey, usage *Usage, now time.Time) *Inventory {
	inv := &Inventory{Generated: now.UTC(), TrustedCAs: []Key{}, Users: []User{}}
	if usage != nil {
		t := usage.Trail
		inv.Trail = &t
	}
	for _, ca := range cas {
		inv.TrustedCAs = append(inv.TrustedCAs, describe(ca))
	}
	for _, l := range logins {
		u := l.User
		ur := User{Name: u.Name, Groups: nonNil(l.Groups), Folders: []Folder{}, AuthMethods: methods(u.Methods, len(cas) > 0),
			AllowFrom: []string{}, Keys: []Key{}}
		for _, f := range l.Folders {
			f.Permissions = nonNil(splitPerms(f.Perms))
			ur.Folders = append(ur.Folders, f)
		}
		for _, p := range u.AllowFrom {
			ur.AllowFrom = append(ur.AllowFrom, p.String())
		}
		for i, k := range u.Keys {
			kr := describe(k)
			kr.Comment, kr.Source = at(l.Comments, i), at(l.Sources, i)
			if i < len(u.KeyOptions) {
				ko := u.KeyOptions[i]
				kr.From = ko.From
				if !ko.Expiry.IsZero() {
					exp := ko.Expiry.UTC()
					kr.Expiry = &exp
				}
			}
			kr.Flags = expiryFlags(kr.Expiry, now)
			if usage != nil {
				kr.LastLogin = usage.keys[userKey{u.Name, kr.Fingerprint}]
				switch {
				case kr.LastLogin == nil:
					kr.Flags = append(kr.Flags, FlagNeverUsed)
				case now.Sub(kr.LastLogin.Time) > UnusedAfter:
					kr.Flags = append(kr.Flags, FlagUnused)
				}
			}
			ur.Keys = append(ur.Keys, kr)
		}
		if usage != nil {
			ur.LastLogin = usage.users[u.Name]
		}
		inv.Users = append(inv.Users, ur)
	}
	return inv
}

// expiryFlags flags an expiry that passed or comes within ExpiryAhead.
func expiryFlags(exp *time.Time, now time.Time) []string {
	switch {
	case exp == nil:
		return []string{}
	case !now.Before(*exp):
		return []string{FlagExpired}
	case exp.Sub(now) <= ExpiryAhead:
		return []string{FlagExpiring}
	}
	return []string{}
}

// describe is a key by type, size and fingerprint.
func describe(k ssh.PublicKey) Key {
	return Key{Type: k.Type(), Bits: bits(k), Fingerprint: auth.Fingerprint(k), Flags: []string{}}
}

// bits is the size of a key as ssh-keygen -l reports it; 0 if unknown.
func bits(k ssh.PublicKey) int {
	ck, ok := k.(ssh.CryptoPublicKey)
	if !ok {
		return 0
	}
	switch pk := ck.CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		return pk.N.BitLen()
	case *ecdsa.PublicKey:
		return pk.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 256
	}
	return 0
}

func methods(m auth.Methods, cas bool) []string {
	if m == 0 {
		m = auth.MethodPublicKey
	}
	var out []string
	if m&auth.MethodPublicKey != 0 {
		out = append(out, "publickey")
		if cas {
			out = append(out, "certificate")
		}
	}
	if m&auth.MethodPassword != 0 {
		out = append(out, "password")
	}
	return out
}

func splitPerms(p auth.Perms) []string {
	if p == 0 {
		return nil
	}
	return strings.Split(p.String(), ",")
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
