package s3fs

import (
	"path"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on an object key, in bytes.
const maxKeyLen = 1024

// jail maps client paths to object keys under one prefix. Every key it returns
// starts with the prefix: a path is cleaned as if "/" were the filesystem root,
// so ".." can never climb above it.
type jail struct {
	prefix string // ends in "/"
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
	key := j.prefix + clean[1:]
	if len(key)+1 > maxKeyLen { // +1 leaves room for a directory marker's "/"
		return "", badPath("name too long for storage (keys are limited to 1024 bytes)")
	}
	return key, nil
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
