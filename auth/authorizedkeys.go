package auth

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AuthorizedKey is one parsed authorized_keys line.
type AuthorizedKey struct {
	Key     ssh.PublicKey
	Comment string
	// Options are the authorized_keys options before the key type, such
	// as `from="10.0.0.0/8"`, as written.
	Options []string
	// Restrictions are Options parsed: every option is either enforced
	// through them or refused, so none is silently dropped.
	Restrictions KeyOptions
	// Source is "file:line" of the key, for messages.
	Source string
}

// ParseAuthorizedKey parses one authorized_keys line, refusing keys weaker
// than minRSABits (CheckStrength). Its options must be ones Lookup enforces
// (from=, expiry-time=) or restrictions of what s3sftpd never offers; any
// other is refused, because a restriction the admin wrote must never be
// silently dropped.
func ParseAuthorizedKey(line string, minRSABits int) (AuthorizedKey, error) {
	line = strings.TrimSpace(line)
	if strings.ContainsAny(line, "\r\n") {
		return AuthorizedKey{}, errors.New("must be one authorized_keys line")
	}
	key, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			err = cause
		}
		return AuthorizedKey{}, fmt.Errorf("invalid public key: %s", strings.TrimPrefix(err.Error(), "ssh: "))
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return AuthorizedKey{}, errors.New("a certificate is not a key to list: list the plain public key, or trust its CA with server.trusted_user_ca_keys")
	}
	if err := CheckStrength(key, minRSABits); err != nil {
		return AuthorizedKey{}, err
	}
	ko, err := ParseKeyOptions(options, time.Local)
	if err != nil {
		return AuthorizedKey{}, err
	}
	return AuthorizedKey{Key: key, Comment: comment, Options: options, Restrictions: ko}, nil
}

// LineError is a bad line of an authorized_keys file: Line and Col (from
// 1) are where its key starts.
type LineError struct {
	Line, Col int
	Err       error
}

// ParseAuthorizedKeys parses the authorized_keys file name holds data of,
// skipping blank lines and comments: its keys, each with Source
// "name:line", and every bad line. keys is non-nil, empty when the file
// lists none.
func ParseAuthorizedKeys(name string, data []byte, minRSABits int) (keys []AuthorizedKey, bad []LineError) {
	keys = []AuthorizedKey{}
	for i, line := range bytes.Split(data, []byte("\n")) {
		text := strings.TrimSpace(string(line))
		if text == "" || text[0] == '#' {
			continue
		}
		k, err := ParseAuthorizedKey(text, minRSABits)
		if err != nil {
			bad = append(bad, LineError{Line: i + 1, Col: strings.Index(string(line), text) + 1, Err: err})
			continue
		}
		k.Source = fmt.Sprintf("%s:%d", name, i+1)
		keys = append(keys, k)
	}
	return keys, bad
}
