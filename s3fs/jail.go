package s3fs

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/s3sftpd/s3sftpd/crypt"
)

// maxKeyLen is S3's limit on an object key, in bytes.
const maxKeyLen = 1024

// maxSegmentLen bounds an encrypted path segment: stores on a file system
// (versitygw, the embedded store, many on-premises ones) refuse longer
// file names, so the limit holds everywhere, S3 included.
const maxSegmentLen = 255

// maxPlainSegment is the longest name that stays within maxSegmentLen once
// encrypted.
var maxPlainSegment = func() int {
	n := 0
	for crypt.EncryptedLen(n+1) <= maxSegmentLen {
		n++
	}
	return n
}()

// jail maps client paths to object keys under one prefix. Every key it returns
// starts with the prefix: a path is cleaned as if "/" were the filesystem root,
// so ".." can never climb above it.
type jail struct {
	prefix string       // ends in "/"
	names  *crypt.Names // encrypts each segment below the prefix; nil keeps names plain
}

// key returns the object key for a client path; the home directory itself maps
// to the prefix. Paths that S3 or a partner's OS would mangle are refused.
func (j jail) key(p string) (string, error) {
	if err := checkName(p); err != nil {
		return "", err
	}
	clean := path.Clean("/" + p)
	if clean == "/" {
		return j.prefix, nil
	}
	for _, seg := range strings.Split(clean[1:], "/") {
		if strings.HasSuffix(seg, ".") {
			return "", badPath("names ending in a dot are not allowed")
		}
	}
	rel := clean[1:]
	if j.names != nil {
		segs := strings.Split(rel, "/")
		for i, seg := range segs {
			if crypt.EncryptedLen(len(seg)) > maxSegmentLen {
				return "", badPath(fmt.Sprintf("name too long for storage once encrypted (at most %d bytes per file or folder name)", maxPlainSegment))
			}
			segs[i] = j.names.Encrypt(seg)
		}
		rel = strings.Join(segs, "/")
	}
	key := j.prefix + rel
	if len(key)+1 > maxKeyLen { // +1 leaves room for a directory marker's "/"
		if j.names != nil {
			return "", badPath("name too long for storage once encrypted (object keys are limited to 1024 bytes; encryption makes names 1.6 times longer plus 26 characters per folder level)")
		}
		return "", badPath("name too long for storage (keys are limited to 1024 bytes)")
	}
	return key, nil
}

// name returns the client's name of one stored path segment; ok is false
// for a segment that is not an encrypted name of this tenant (written by
// another tool or with another key), which no client could address.
func (j jail) name(stored string) (string, bool) {
	if j.names == nil {
		return stored, true
	}
	name, err := j.names.Decrypt(stored)
	return name, err == nil
}

// dirKey is the prefix under which a directory's entries live ("…/"), or the
// jail prefix itself for the home directory.
func (j jail) dirKey(p string) (string, error) {
	k, err := j.key(p)
	if err != nil || k == j.prefix {
		return k, err
	}
	return k + "/", nil
}

// isRoot reports whether key is the home directory.
func (j jail) isRoot(key string) bool { return key == j.prefix }

// checkName refuses bytes that have no safe meaning in an object key.
func checkName(p string) error {
	if !utf8.ValidString(p) {
		return badPath("name is not valid UTF-8")
	}
	for _, r := range p {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return badPath("name contains a control character")
		case r == '\\':
			return badPath("name contains a backslash")
		}
	}
	return nil
}
