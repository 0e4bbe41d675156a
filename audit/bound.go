package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"unicode/utf8"
)

// A client chooses its user name, its version line, the paths it asks for
// and the names of the channels and requests it opens, and SSH lets each be
// up to 256 KB. Written as they are, a few connections fill the disk under
// the trail, and with on_failure = "deny" a full disk stops every partner.
// So every such string is bounded before it is recorded or logged.
const (
	// MaxName bounds a user name, a client version, an SSH channel or
	// request type, and the other short fields of a record.
	MaxName = 256
	// MaxPath bounds a path or an object key, and a message or reason that
	// may quote one: 1024 bytes is the longest key S3 takes, so a path the
	// jail accepts is always recorded whole.
	MaxPath = 1024
)

// Bound returns s if it is at most n bytes long. Otherwise it returns the
// first n bytes (cut at a character boundary) and a marker that gives the
// length cut off and a short SHA-256 of the whole string, so that two long
// names that share their start stay distinguishable:
//
//	aaaa…[cut 199744 bytes, sha256 1f2e3d4c5b6a7988]
//
// The marker is under 64 bytes.
func Bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(s))
	return s[:cut] + "…[cut " + strconv.Itoa(len(s)-cut) + " bytes, sha256 " + hex.EncodeToString(sum[:8]) + "]"
}

// bound applies Bound to every field of r a client can fill, so no record
// is larger than a few KB whatever the client sent.
func bound(r *Record) {
	for _, f := range []*string{&r.Path, &r.Target, &r.Key, &r.TargetKey, &r.Error, &r.Reason} {
		*f = Bound(*f, MaxPath)
	}
	for _, f := range []*string{&r.Session, &r.Remote, &r.Client, &r.User, &r.Method, &r.KeyType, &r.KeyFP, &r.CertID,
		&r.Op, &r.Mode, &r.Bucket, &r.SHA256, &r.ETag, &r.VersionID} {
		*f = Bound(*f, MaxName)
	}
}
