// Package vfs is a user's namespace: it maps the path a partner's client
// sends to the mount that serves it (bucket, prefix, permissions, name
// encryption) and the object key. The jail lives here: every key a mount
// returns starts with its prefix, whatever the path, so no path reaches
// another partner's objects.
//
// A user's Table holds its mounts: the home (if any) at "/" and its
// folders, each at its own path. vfs knows nothing of S3 or SFTP: s3fs asks
// it where a path leads, then does the request.
package vfs

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// MaxKeyLen is S3's limit on an object key, in bytes.
const MaxKeyLen = 1024

// maxSegmentLen bounds an encrypted path segment: stores on a file system
// (versitygw, the embedded store, many on-premises ones) refuse longer
// file names, so the limit holds everywhere, S3 included.
const maxSegmentLen = 255

// MaxPlainSegment is the longest name that stays within maxSegmentLen once
// encrypted.
var MaxPlainSegment = func() int {
	n := 0
	for objfmt.EncryptedLen(n+1) <= maxSegmentLen {
		n++
	}
	return n
}()

// PathError refuses a path the jail does not accept. Its text is meant for
// the partner: it names the rule, never a key or a prefix.
type PathError struct{ Reason string }

func (e *PathError) Error() string { return "invalid path: " + e.Reason }

func refuse(reason string) error { return &PathError{reason} }

// Mount is one place in a user's namespace: the objects under Prefix in
// Bucket, with the permissions the user has there.
type Mount struct {
	Bucket string
	Prefix string // ends in "/"
	Perms  auth.Perms
	Names  *objfmt.Names // encrypts each segment below the prefix; nil keeps names plain
	Gates  auth.Gates    // what uploads pass and downloads become here (issue 21)
	// Lifecycle is what happens to the files here once they landed: a
	// whole download deletes one in a DeleteAfterDownload folder.
	Lifecycle auth.Lifecycle
}

// PGPSuffix is what an encrypting place adds to every file name: its
// downloads are OpenPGP messages.
const PGPSuffix = ".pgp"

// pgpSuffixes end the names of OpenPGP uploads, which a decrypting place
// stores without them.
var pgpSuffixes = []string{".pgp", ".gpg", ".asc"}

// Stored is the path the file at p is stored under: in a decrypting place,
// without its OpenPGP suffix ("report.csv.pgp" is stored as "report.csv");
// in an encrypting place, without the ".pgp" its listing adds; elsewhere p
// itself. A name that is only the suffix keeps it. Key applies it.
func (m Mount) Stored(p string) string {
	suffixes := pgpSuffixes
	switch m.Gates.PGP {
	case auth.PGPEncrypt:
		suffixes = pgpSuffixes[:1]
	case auth.PGPDecrypt:
	default:
		return p
	}
	for _, s := range suffixes {
		if len(p) > len(s) && strings.EqualFold(p[len(p)-len(s):], s) && !strings.HasSuffix(p[:len(p)-len(s)], "/") {
			return p[:len(p)-len(s)]
		}
	}
	return p
}

// Key returns the object key for a client path (of the name it is Stored
// under); the mount's root maps to the prefix. A path is cleaned as if "/" were the filesystem root, so ".."
// never climbs above the prefix; paths that S3 or a partner's OS would
// mangle are refused with a *PathError.
func (m Mount) Key(p string) (string, error) {
	if err := CheckName(p); err != nil {
		return "", err
	}
	clean := path.Clean("/" + m.Stored(p))
	if clean == "/" {
		return m.Prefix, nil
	}
	for _, seg := range strings.Split(clean[1:], "/") {
		if strings.HasSuffix(seg, ".") {
			return "", refuse("names ending in a dot are not allowed")
		}
		if objfmt.Reserved(seg) {
			return "", refuse("this name is reserved by the server")
		}
	}
	rel := clean[1:]
	if m.Names != nil {
		segs := strings.Split(rel, "/")
		for i, seg := range segs {
			if objfmt.EncryptedLen(len(seg)) > maxSegmentLen {
				return "", refuse(fmt.Sprintf("name too long for storage once encrypted (at most %d bytes per file or folder name)", MaxPlainSegment))
			}
			segs[i] = m.Names.Encrypt(seg)
		}
		rel = strings.Join(segs, "/")
	}
	key := m.Prefix + rel
	if len(key)+1 > MaxKeyLen { // +1 leaves room for a directory marker's "/"
		if m.Names != nil {
			return "", refuse("name too long for storage once encrypted (object keys are limited to 1024 bytes; encryption makes names 1.6 times longer plus 26 characters per folder level)")
		}
		return "", ErrKeyTooLong
	}
	return key, nil
}

// ErrKeyTooLong refuses a name whose key would pass S3's limit.
var ErrKeyTooLong = refuse("name too long for storage (keys are limited to 1024 bytes)")

// Name returns the client's name of one stored path segment; ok is false
// for a segment that is not an encrypted name of this mount (written by
// another tool or with another key), which no client could address.
func (m Mount) Name(stored string) (string, bool) {
	if m.Names == nil {
		return stored, true
	}
	name, err := m.Names.Decrypt(stored)
	return name, err == nil
}

// DirKey is the prefix under which a directory's entries live ("…/"), or
// the mount's prefix itself for its root.
func (m Mount) DirKey(p string) (string, error) {
	k, err := m.Key(p)
	if err != nil || k == m.Prefix {
		return k, err
	}
	return k + "/", nil
}

// IsRoot reports whether key is the mount's root directory.
func (m Mount) IsRoot(key string) bool { return key == m.Prefix }

// CheckName refuses bytes that have no safe meaning in an object key.
func CheckName(p string) error {
	if !utf8.ValidString(p) {
		return refuse("name is not valid UTF-8")
	}
	for _, r := range p {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return refuse("name contains a control character")
		case r == '\\':
			return refuse("name contains a backslash")
		}
	}
	return nil
}
