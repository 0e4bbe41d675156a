// Package auth owns the user map: which public key belongs to which user, and
// the Tenant (bucket, prefix, permissions) a successful login is confined to.
// It does no I/O: config reads the files (authorized_keys among them) and
// hands it their bytes; S3 access happens in s3fs.
package auth

import (
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/pgp"
)

// ErrDenied is the only error a failed lookup returns, so callers cannot tell
// (or leak) whether the user or the key was unknown.
var ErrDenied = errors.New("permission denied")

// Tenant is what an authenticated session may reach. It is built only by
// Lookup and travels only inside ssh.Permissions (never in a callback's
// captured variables), so a session can never act as another user.
type Tenant struct {
	User   string // login name, for logs and audit
	Bucket string // the home's bucket (the user's bucket without a home)
	Prefix string // the home, the jail at "/": every key under "/" starts with it; ends in "/"; "" without a home
	Perms  Perms  // operations the session may perform in the home (and where a folder sets none)
	Gates  Gates  // the home's content gates
	// PGPKeys are the partner's OpenPGP public keys: the signers accepted
	// in a decrypting place, the recipients in an encrypting one. A reload
	// that changes them closes the session (a key withdrawn stops at once).
	PGPKeys []*pgp.Key
	// Folders are the other places of the session's tree, each a jail of
	// its own at its path. Callers must not modify them.
	Folders []Folder
	// RoleARN, if set, is the IAM role the session's S3 calls run as,
	// assumed with a session policy that narrows it to Bucket and Prefix;
	// ExternalID goes with it. Empty: the gateway's own credentials.
	RoleARN, ExternalID string
	// LegacyRSASHA1 allows ssh-rsa (SHA-1) signatures from the user's RSA
	// keys; without it only rsa-sha2-256/512 are accepted.
	LegacyRSASHA1 bool
	// Methods are the authentication methods the login had to pass.
	Methods Methods

	// password identifies the password hash of a login that passed
	// password: when it changes, the session's login no longer holds.
	password string
	// Limits are the user's fair-sharing limits; they are not part of what
	// the session may reach, so a reload that changes only them closes no
	// session (new sessions get the new limits).
	Limits Limits
}

// Folder is one place of a user's tree besides the home: the objects under
// Prefix in Bucket, seen at Path, with the permissions Perms.
type Folder struct {
	Path   string // "/inbound", "/reports/monthly"; never "/"
	Bucket string // a bucket, or an access point ARN or alias
	Prefix string // ends in "/"
	Perms  Perms
	Gates  Gates // what its uploads pass and its downloads become
	// Lifecycle is what happens to its files once they landed: deleted
	// when picked up, after a retention, reported when nobody came.
	Lifecycle Lifecycle
}

// Lifecycle is a folder's policy for the files in it (issue 20). The zero
// value keeps files until someone deletes them.
type Lifecycle struct {
	// DeleteAfterDownload deletes a file once the user downloaded all of
	// it and closed it without error: exactly the version downloaded.
	DeleteAfterDownload bool
	// Retention, if set, deletes files older than it (by LastModified).
	Retention time.Duration
	// NotPickedUpAfter, if set, records one not_picked_up for each file
	// that has waited this long.
	NotPickedUpAfter time.Duration
}

// String is l as check-config -v shows it after a place: "" for none.
func (l Lifecycle) String() string {
	var s string
	if l.DeleteAfterDownload {
		s += " delete_after_download"
	}
	if l.Retention > 0 {
		s += " retention=" + l.Retention.String()
	}
	if l.NotPickedUpAfter > 0 {
		s += " not_picked_up_after=" + l.NotPickedUpAfter.String()
	}
	return s
}

// Mounts is the session's mount table: the home at "/" (if it has one)
// and then its folders.
func (t *Tenant) Mounts() []Folder {
	var ms []Folder
	if t.Prefix != "" {
		ms = append(ms, Folder{Path: "/", Bucket: t.Bucket, Prefix: t.Prefix, Perms: t.Perms, Gates: t.Gates})
	}
	return append(ms, t.Folders...)
}

// SameReach reports whether t and o reach the same data the same way:
// everything but the fair-sharing limits, which a reload may change under
// a live session (they apply to its next login). A reload closes the
// sessions whose tenant no longer has the same reach.
func (t *Tenant) SameReach(o *Tenant) bool {
	return t.User == o.User && t.Bucket == o.Bucket && t.Prefix == o.Prefix && t.Perms == o.Perms && t.Gates == o.Gates &&
		sameFolders(t.Folders, o.Folders) && t.RoleARN == o.RoleARN && t.ExternalID == o.ExternalID &&
		t.LegacyRSASHA1 == o.LegacyRSASHA1 && t.Methods == o.Methods && t.password == o.password &&
		slices.EqualFunc(t.PGPKeys, o.PGPKeys, func(a, b *pgp.Key) bool { return a == b || a != nil && b != nil && a.Fingerprint() == b.Fingerprint() })
}

// sameFolders reports whether a and b hold the same folders, in any order
// (the order of groups in the config changes nothing a session reaches).
func sameFolders(a, b []Folder) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(f Folder) bool { return !slices.Contains(b, f) })
}

// Limits keep one partner from taking what the others need. A zero field
// is no limit of that kind for the user (config always sets the memory
// share; the process-wide budgets still apply).
type Limits struct {
	// MaxUploadBytesPerSec and MaxDownloadBytesPerSec cap the bytes per
	// second the user's SFTP sessions together receive and send.
	MaxUploadBytesPerSec, MaxDownloadBytesPerSec int64
	// ReadAheadMemory caps the download read-ahead buffers of all the
	// user's open files together.
	ReadAheadMemory int64
	// UploadMemory caps the upload buffers of all the user's uploads
	// together (its share of upload_memory); 0 is the server's default.
	UploadMemory int64
	// MaxOpenFiles caps the files one session has open for reading or
	// writing, since every open file holds memory; 0 is no cap.
	MaxOpenFiles int
}

// SamePassword reports whether t and o were logged in with the same
// password hash (or both without a password).
func (t *Tenant) SamePassword(o *Tenant) bool { return t.password == o.password }

// User is one entry of the user map.
type User struct {
	Name   string
	Bucket string
	Home   string // key prefix, ending in "/"; "" for a user with folders only
	Perms  Perms
	// Gates and PGPKeys: see Tenant.
	Gates   Gates
	PGPKeys []*pgp.Key
	// Folders: see Tenant.
	Folders []Folder
	Keys    []ssh.PublicKey
	// RoleARN and ExternalID: see Tenant.
	RoleARN, ExternalID string
	// KeyOptions are the enforced authorized_keys options of Keys[i];
	// a key without an entry has none.
	KeyOptions []KeyOptions
	// AllowFrom lists the networks the user may log in from; nil means any.
	AllowFrom []netip.Prefix
	// LegacyRSASHA1: see Tenant.
	LegacyRSASHA1 bool
	// Methods must all be passed to log in; 0 means MethodPublicKey.
	Methods Methods
	// Password is the parsed password_hash; nil without one.
	Password *PasswordHash
	// Limits: see Tenant.
	Limits Limits
}

func (usr *User) tenant() *Tenant {
	t := &Tenant{User: usr.Name, Bucket: usr.Bucket, Prefix: usr.Home, Perms: usr.Perms, Gates: usr.Gates, PGPKeys: usr.PGPKeys, Folders: slices.Clip(usr.Folders),
		LegacyRSASHA1: usr.LegacyRSASHA1, Methods: usr.Methods, RoleARN: usr.RoleARN, ExternalID: usr.ExternalID, Limits: usr.Limits}
	if usr.Methods&MethodPassword != 0 && usr.Password != nil {
		t.password = usr.Password.id
	}
	return t
}

// Users is an immutable snapshot of the user map. A reload builds a new one.
type Users struct {
	byName map[string]*User
}

// NewUsers builds a snapshot. Names must be unique and homes must end in "/";
// config reports such mistakes with positions, this is the last line of defence.
func NewUsers(users []User) (*Users, error) {
	u := &Users{byName: make(map[string]*User, len(users))}
	for i := range users {
		usr := users[i]
		if usr.Name == "" || usr.Bucket == "" && usr.Home != "" {
			return nil, fmt.Errorf("user %d: name and bucket are required", i)
		}
		if usr.Home == "" && len(usr.Folders) == 0 || usr.Home != "" && !strings.HasSuffix(usr.Home, "/") {
			return nil, fmt.Errorf("user %q: home %q must end in / (or the user needs folders)", usr.Name, usr.Home)
		}
		for _, f := range usr.Folders {
			if f.Path == "" || f.Path == "/" || f.Bucket == "" || !strings.HasSuffix(f.Prefix, "/") {
				return nil, fmt.Errorf("user %q: folder %q needs a path below /, a bucket and a prefix ending in /", usr.Name, f.Path)
			}
		}
		if usr.Methods == 0 {
			usr.Methods = MethodPublicKey
		}
		if usr.Methods&MethodPassword != 0 && usr.Password == nil {
			return nil, fmt.Errorf("user %q: password authentication without a password hash", usr.Name)
		}
		if _, dup := u.byName[usr.Name]; dup {
			return nil, fmt.Errorf("user %q: defined twice", usr.Name)
		}
		u.byName[usr.Name] = &usr
	}
	return u, nil
}

// dummyKey is compared against when the user is unknown, so an unknown user
// costs the same work as a wrong key.
var dummyKey = make([]byte, 51)

// Lookup returns the Tenant for a user presenting key, or ErrDenied. It
// compares key blobs in constant time and does the same work for unknown users.
func (u *Users) Lookup(name string, key ssh.PublicKey) (*Tenant, error) {
	blob := key.Marshal()
	usr, ok := u.byName[name]
	if !ok {
		subtle.ConstantTimeCompare(blob, dummyKey)
		return nil, ErrDenied
	}
	match := 0
	for _, k := range usr.Keys {
		match |= subtle.ConstantTimeCompare(blob, k.Marshal())
	}
	if match != 1 {
		return nil, ErrDenied
	}
	return usr.tenant(), nil
}

// Permit checks the restrictions on a login by name with key (nil for a
// password) from addr at now: the key's expiry-time= and from= options and
// the user's allow_from.
// Call it after Lookup succeeded; the error wraps ErrRestricted and says
// why, for the log only.
func (u *Users) Permit(name string, key ssh.PublicKey, addr netip.Addr, now time.Time) error {
	usr, ok := u.byName[name]
	if !ok {
		return ErrDenied
	}
	if key == nil { // a password login: only allow_from applies
		return permit(usr, KeyOptions{}, addr, now)
	}
	blob := key.Marshal()
	for i, k := range usr.Keys {
		if subtle.ConstantTimeCompare(blob, k.Marshal()) == 1 {
			var ko KeyOptions
			if i < len(usr.KeyOptions) {
				ko = usr.KeyOptions[i]
			}
			return permit(usr, ko, addr, now)
		}
	}
	return ErrDenied
}

// Tenant is the current Tenant of a user, for holding a password session
// against a reloaded map; ErrDenied when the user is gone.
func (u *Users) Tenant(name string) (*Tenant, error) {
	usr, ok := u.byName[name]
	if !ok {
		return nil, ErrDenied
	}
	return usr.tenant(), nil
}

// List is every user of the snapshot, sorted by name, for the inventory
// and the expiry reminders. The entries share their slices with the
// snapshot: callers must not modify them.
func (u *Users) List() []User {
	out := make([]User, 0, len(u.byName))
	for _, name := range sortedNames(u) {
		out = append(out, *u.byName[name])
	}
	return out
}

// Len reports how many users the snapshot holds.
func (u *Users) Len() int { return len(u.byName) }

// Fingerprint is the OpenSSH SHA256 fingerprint of a key, safe to log.
func Fingerprint(key ssh.PublicKey) string { return ssh.FingerprintSHA256(key) }

// MinRSABits is the least min_rsa_bits: RSA keys below it are never accepted.
const MinRSABits = 2048

// CheckStrength refuses the keys too weak to accept, listed or certified:
// DSA, and RSA under minRSABits (MinRSABits when less).
func CheckStrength(key ssh.PublicKey, minRSABits int) error {
	if key.Type() == ssh.KeyAlgoDSA {
		return errors.New("ssh-dss (DSA) keys are not accepted: use ssh-ed25519")
	}
	ck, ok := key.(ssh.CryptoPublicKey)
	if !ok {
		return nil
	}
	minRSABits = max(minRSABits, MinRSABits)
	if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
		return fmt.Errorf("RSA key has %d bits: at least %d are required", rk.N.BitLen(), minRSABits)
	}
	return nil
}
