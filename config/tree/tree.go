// Package tree builds each user's folder tree from the config: the home at
// "/", if any, and the folders of the user's [[groups]] templates and its
// own [[users.folders]], each with its bucket, prefix and permissions. It
// says what is wrong by key path ("groups[0].folders[1].path"); config
// turns those into file:line:col errors.
//
// The rules it holds are the ones that keep partners apart: a folder's
// path is clean and absolute, no folder lies inside another of the same
// user, no two places of one user reach the same objects, and no prefix
// lies inside another user's home or folder in the same bucket unless it
// is the same prefix. It does no I/O and knows nothing of TOML.
package tree

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/s3sftpd/s3sftpd/auth"
)

// Folder is one [[groups.folders]] or [[users.folders]] table as written.
type Folder struct {
	// Path is where the folder appears in the user's tree: "/inbound",
	// "/reports/monthly".
	Path string `toml:"path"`
	// Prefix is where it lives in S3, ending in "/"; "{user}" stands for
	// the login name.
	Prefix string `toml:"prefix"`
	// Bucket overrides the user's bucket (an access point ARN or alias
	// works too).
	Bucket string `toml:"bucket"`
	// Permissions are what the user may do in the folder; omitted, the
	// user's permissions.
	Permissions []string `toml:"permissions"`
	// Scan, PGP and PGPRequireSignature are the folder's content gates
	// (auth.Gates); config checks them against [scan], [pgp] and the
	// user's keys.
	Scan                bool   `toml:"scan"`
	PGP                 string `toml:"pgp"`
	PGPRequireSignature bool   `toml:"pgp_require_signature"`
	// DeleteAfterDownload, Retention and NotPickedUpAfter are the folder's
	// lifecycle (auth.Lifecycle); CheckLifecycle checks them.
	DeleteAfterDownload bool     `toml:"delete_after_download"`
	Retention           Lifetime `toml:"retention"`
	NotPickedUpAfter    Lifetime `toml:"not_picked_up_after"`
}

// Gates are f's content gates.
func (f Folder) Gates() auth.Gates {
	return auth.Gates{Scan: f.Scan, PGP: f.PGP, RequireSignature: f.PGPRequireSignature}
}

// Group is one [[groups]] table: folders shared by every user naming it.
type Group struct {
	Name    string   `toml:"name"`
	Folders []Folder `toml:"folders"`
}

// Mount is one resolved place of a user's tree.
type Mount struct {
	Path   string // "/" for the home
	Bucket string
	Prefix string // {user} replaced; ends in "/"
	Perms  auth.Perms
	Gates  auth.Gates
	// Lifecycle is what happens to the files of a folder (none for the home).
	Lifecycle auth.Lifecycle
	// Key is the key path of the table it comes from ("users[0]",
	// "groups[1].folders[0]"), for messages.
	Key string
}

// Home reports whether m is the user's home.
func (m Mount) Home() bool { return m.Path == "/" }

// fromGroup reports whether m comes from a [[groups]] template, so that a
// message about one user must name it.
func (m Mount) fromGroup() bool { return strings.HasPrefix(m.Key, "groups[") }

// prefixKey is the key path where m's prefix is written.
func (m Mount) prefixKey() string {
	if m.Home() {
		return m.Key + ".home"
	}
	return m.Key + ".prefix"
}

// Problem is one thing wrong, at the key path it is about.
type Problem struct {
	Key string
	Msg string
}

func problem(key, format string, args ...any) Problem {
	return Problem{key, fmt.Sprintf(format, args...)}
}

// Placeholder is what a prefix template may hold: the login name.
const Placeholder = "{user}"

var braces = regexp.MustCompile(`\{[^{}]*\}?|\}`)

// CheckFolder checks the path and the prefix template of the folder at key;
// empty values are config's to report.
func CheckFolder(key string, f Folder) []Problem {
	var ps []Problem
	if f.Path != "" {
		if msg := PathProblem(f.Path); msg != "" {
			ps = append(ps, problem(key+".path", "%s", msg))
		}
	}
	if f.Prefix != "" {
		if bad := braces.FindAllString(strings.ReplaceAll(f.Prefix, Placeholder, ""), -1); len(bad) > 0 {
			ps = append(ps, problem(key+".prefix", "unknown placeholder %q: only %s (the login name) is replaced", bad[0], Placeholder))
		} else if msg := PrefixProblem(strings.ReplaceAll(f.Prefix, Placeholder, "user")); msg != "" {
			ps = append(ps, problem(key+".prefix", "%s", msg))
		}
	}
	return ps
}

// CheckGroup checks the folders of the group at key against each other:
// distinct paths, none inside another.
func CheckGroup(key string, g Group) []Problem {
	var ps []Problem
	for i, f := range g.Folders {
		for j, o := range g.Folders[:i] {
			if msg := clash(f.Path, o.Path, fmt.Sprintf("%s.folders[%d]", key, j)); msg != "" {
				ps = append(ps, problem(fmt.Sprintf("%s.folders[%d].path", key, i), "%s", msg))
			}
		}
	}
	return ps
}

// clash says what is wrong with a folder at p beside one at o (written at
// oKey), or "".
func clash(p, o, oKey string) string {
	switch {
	case PathProblem(p) != "" || PathProblem(o) != "":
		return ""
	case p == o:
		return fmt.Sprintf("duplicate folder path %s (also at %s)", p, oKey)
	case strings.HasPrefix(p, o+"/"):
		return fmt.Sprintf("%s is inside the folder %s (%s): folders must not nest", p, o, oKey)
	case strings.HasPrefix(o, p+"/"):
		return fmt.Sprintf("%s holds the folder %s (%s): folders must not nest", p, o, oKey)
	}
	return ""
}

// User is what Resolve needs of one [[users]] table.
type User struct {
	Key    string // "users[3]"
	Name   string
	Home   string // "" without one (or when it is invalid, reported apart)
	Bucket string // the user's bucket, the [s3] default applied
	Perms  auth.Perms
	Gates  auth.Gates // the home's
	Groups []string
	// Folders are the user's own; one at the path of a group's folder
	// replaces it.
	Folders []Folder
}

// Resolve returns u's tree: the home first, then the folders of its groups
// in order and its own, each with {user} replaced and its permissions
// parsed (omitted: the user's). Problems of a group alone are CheckGroup's
// and CheckFolder's; Resolve reports what arises in u's tree only.
func Resolve(u User, groups []Group) ([]Mount, []Problem) {
	var ms []Mount
	var ps []Problem
	if u.Home != "" {
		ms = append(ms, Mount{Path: "/", Bucket: u.Bucket, Prefix: u.Home, Perms: u.Perms, Gates: u.Gates, Key: u.Key})
	}
	own := map[string]bool{}
	for _, f := range u.Folders {
		own[f.Path] = true
	}
	type source struct {
		key    string // where the folder is written
		origin string // where it entered the user's tree, for clashes
		f      Folder
	}
	var srcs []source
	for j, name := range u.Groups {
		gi := slices.IndexFunc(groups, func(g Group) bool { return g.Name == name })
		if gi < 0 {
			ps = append(ps, problem(fmt.Sprintf("%s.groups[%d]", u.Key, j), "unknown group %q%s", name, groupHint(name, groups)))
			continue
		}
		if slices.Index(u.Groups, name) < j {
			ps = append(ps, problem(fmt.Sprintf("%s.groups[%d]", u.Key, j), "group %q is listed twice", name))
			continue
		}
		for k, f := range groups[gi].Folders {
			if !own[f.Path] {
				srcs = append(srcs, source{fmt.Sprintf("groups[%d].folders[%d]", gi, k), fmt.Sprintf("%s.groups[%d]", u.Key, j), f})
			}
		}
	}
	for k, f := range u.Folders {
		key := fmt.Sprintf("%s.folders[%d]", u.Key, k)
		srcs = append(srcs, source{key, key + ".path", f})
	}
	for i, s := range srcs {
		bad := s.f.Path == "" || s.f.Prefix == "" || len(CheckFolder(s.key, s.f)) > 0
		for _, o := range srcs[:i] {
			if s.key[:strings.Index(s.key, ".")] == o.key[:strings.Index(o.key, ".")] {
				continue // one group's or one user's own folders: CheckGroup's, or reported at the user
			}
			if msg := clash(s.f.Path, o.f.Path, o.key); msg != "" {
				ps = append(ps, problem(s.origin, "%s", msg))
				bad = true
			}
		}
		if bad {
			continue
		}
		m := Mount{Path: s.f.Path, Bucket: cmpOr(s.f.Bucket, u.Bucket), Prefix: strings.ReplaceAll(s.f.Prefix, Placeholder, u.Name), Perms: u.Perms, Gates: s.f.Gates(), Lifecycle: s.f.Lifecycle(), Key: s.key}
		if s.f.Permissions != nil {
			m.Perms, _ = auth.ParsePerms(s.f.Permissions) // names are config's to check
		} else if s.f.DeleteAfterDownload {
			ps = append(ps, pickupPerms(s.key, m.Perms, fmt.Sprintf(" (omitted: those of user %q)", u.Name))...)
		}
		if msg := PrefixProblem(m.Prefix); msg != "" {
			ps = append(ps, problem(m.prefixKey(), "%q for user %q: %s", m.Prefix, u.Name, msg))
			continue
		}
		ms = append(ms, m)
	}
	for k := range u.Folders { // the user's own folders against each other
		key := fmt.Sprintf("%s.folders[%d]", u.Key, k)
		for j := range k {
			if msg := clash(u.Folders[k].Path, u.Folders[j].Path, fmt.Sprintf("%s.folders[%d]", u.Key, j)); msg != "" {
				ps = append(ps, problem(key+".path", "%s", msg))
			}
		}
	}
	return ms, append(ps, sameObjects(u, ms)...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sameObjects reports two places of one user whose prefixes are one or
// nest in the same bucket: the same objects would be reachable through two
// paths with different permissions. A folder whose prefix is its own path
// inside the home is allowed: it shadows that path of the home, so its
// objects are reachable through the folder only.
func sameObjects(u User, ms []Mount) []Problem {
	var ps []Problem
	for i, m := range ms {
		for _, o := range ms[:i] {
			if !mayShareBucket(m.Bucket, o.Bucket) || !(strings.HasPrefix(m.Prefix, o.Prefix) || strings.HasPrefix(o.Prefix, m.Prefix)) {
				continue
			}
			if o.Home() && m.Bucket == o.Bucket && m.Prefix == o.Prefix+m.Path[1:]+"/" {
				continue // the folder shadows its own path of the home
			}
			msg := fmt.Sprintf("%q of %s overlaps %q of %s", m.Prefix, m.Where(), o.Prefix, o.Where())
			if m.fromGroup() {
				msg = fmt.Sprintf("for user %q, %s", u.Name, msg)
			}
			ps = append(ps, problem(m.prefixKey(), "%s: the same objects would be reachable through two paths with different permissions", msg))
		}
	}
	return ps
}

// Where names m within its user's tree: "the home", "the folder /inbound".
func (m Mount) Where() string {
	if m.Home() {
		return "the home"
	}
	return "the folder " + m.Path
}

// groupHint suggests the group a misspelt name meant.
func groupHint(name string, groups []Group) string {
	for _, g := range groups {
		if strings.EqualFold(g.Name, name) || editDistance1(g.Name, name) {
			return fmt.Sprintf(" (did you mean %q?)", g.Name)
		}
	}
	return ""
}

// editDistance1 reports whether a and b differ by one inserted, deleted or
// changed byte.
func editDistance1(a, b string) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(a)-len(b) > 1 {
		return false
	}
	i := 0
	for i < len(b) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		return a[i+1:] == b[i+1:]
	}
	return a[i+1:] == b[i:]
}

// UsesDefaultBucket reports whether a place of a user with bucket (""
// without one), home, groups and own folders lies in the [s3] bucket.
func UsesDefaultBucket(bucket, home string, groups []string, own []Folder, all []Group) bool {
	if bucket != "" {
		return false
	}
	fs := own
	for _, g := range all {
		if slices.Contains(groups, g.Name) {
			fs = append(slices.Clip(fs), g.Folders...)
		}
	}
	return home != "" || len(fs) == 0 || slices.ContainsFunc(fs, func(f Folder) bool { return f.Bucket == "" })
}

// Owner is one user's resolved tree, for Overlaps.
type Owner struct {
	Index  int // of its [[users]] table
	Name   string
	Mounts []Mount
}

// Overlaps reports every prefix inside another user's home or folder in
// the same bucket: that user could read and change the other's files.
// Identical prefixes are allowed (the staff of one partner share a home; a
// hospital's outbound folder is shared by a partner's logins). An access
// point (ARN or alias) may reach any bucket of its account, and which one
// cannot be known offline: a prefix through an access point is checked
// against every prefix not named with the same bucket string except in
// another plain bucket, as if they shared the bucket.
func Overlaps(owners []Owner) []Problem {
	type place struct {
		owner *Owner
		m     Mount
	}
	byPrefix := map[string][]place{}
	for i := range owners {
		for _, m := range owners[i].Mounts {
			byPrefix[m.Prefix] = append(byPrefix[m.Prefix], place{&owners[i], m})
		}
	}
	var ps []Problem
	for _, u := range owners {
		for _, m := range u.Mounts {
			seen := map[string]bool{}
			for i := range len(m.Prefix) - 1 { // every prefix above m's: "a/", "a/b/" of "a/b/c/"
				if m.Prefix[i] != '/' {
					continue
				}
				for _, o := range byPrefix[m.Prefix[:i+1]] {
					om := o.m
					if o.owner.Index == u.Index || seen[om.Bucket+"\x00"+om.Prefix] || !mayShareBucket(m.Bucket, om.Bucket) {
						continue
					}
					seen[om.Bucket+"\x00"+om.Prefix] = true
					subject := fmt.Sprintf("%q", m.Prefix)
					if m.fromGroup() {
						subject = fmt.Sprintf("%q (the folder %s of users[%d] %q)", m.Prefix, m.Path, u.Index, u.Name)
					}
					other := fmt.Sprintf("%s of users[%d] %q (%q)", om.Where(), o.owner.Index, o.owner.Name, om.Prefix)
					if m.Bucket == om.Bucket {
						ps = append(ps, problem(m.prefixKey(), "%s is inside %s in the same bucket", subject, other))
					} else {
						ps = append(ps, problem(m.prefixKey(), "%s is inside %s, and %s (check-config cannot tell offline): give them %s that do not nest",
							subject, other, maybeSameBucket(m.Bucket, om.Bucket), plural(m, om)))
					}
				}
			}
		}
	}
	return ps
}

// plural names what two places are, for "give them … that do not nest".
func plural(a, b Mount) string {
	if a.Home() && b.Home() {
		return "homes"
	}
	return "prefixes"
}

// mayShareBucket reports whether two bucket values may name one bucket.
func mayShareBucket(a, b string) bool { return a == b || AccessPoint(a) || AccessPoint(b) }

// maybeSameBucket says why two differently named buckets, at least one an
// access point, may be one.
func maybeSameBucket(a, b string) string {
	switch {
	case AccessPoint(a) && AccessPoint(b):
		return fmt.Sprintf("access points %q and %q may be of the same bucket", a, b)
	case AccessPoint(b):
		a, b = b, a
	}
	return fmt.Sprintf("access point %q may be of bucket %q", a, b)
}

// AccessPoint reports whether a bucket value names an S3 access point, by
// its ARN or its alias, rather than a bucket.
func AccessPoint(b string) bool {
	return strings.HasPrefix(b, "arn:") || strings.HasSuffix(b, "-s3alias")
}

// PathProblem returns what is wrong with a folder's path, or "".
func PathProblem(p string) string {
	if bad := BadChars(p); bad != "" {
		return "must not contain " + bad
	}
	switch {
	case strings.Contains(p, `\`):
		return `must not contain "\" (use "/")`
	case !strings.HasPrefix(p, "/"):
		return `must be absolute, such as "/inbound"`
	case p == "/":
		return `must not be "/": that is the home (set home), or name a folder such as "/inbound"`
	case strings.HasSuffix(p, "/"):
		return `must not end with "/"`
	case len(p) > 512:
		return "must be at most 512 bytes"
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return `must not contain empty, "." or ".." segments`
		case strings.HasSuffix(seg, "."):
			return `must not have a segment ending in "." (clients cannot address such names)`
		}
	}
	return ""
}

// PrefixProblem returns what is wrong with a key prefix (a home or a
// folder's prefix), or "".
func PrefixProblem(h string) string {
	if bad := BadChars(h); bad != "" {
		return "must not contain " + bad
	}
	switch {
	case strings.Contains(h, `\`):
		return `must not contain "\" (use "/")`
	case strings.HasPrefix(h, "/"):
		return `must not start with "/": it is a key prefix inside the bucket, such as "partners/acme/"`
	case !strings.HasSuffix(h, "/"):
		return `must end with "/"`
	case len(h) >= 1024:
		return "must be shorter than 1024 bytes, the S3 key limit"
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(h, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return `must not contain empty, "." or ".." segments`
		}
	}
	return ""
}

// BadChars names what makes s unusable as a name or key, or returns "".
func BadChars(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "invalid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "control characters"
	}
	return ""
}
