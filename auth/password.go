package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Methods are the authentication methods a user must pass, all of them.
type Methods uint8

const (
	MethodPublicKey Methods = 1 << iota // an SSH key listed for the user
	MethodPassword                      // the password of password_hash
)

// ParseMethods turns the config's auth list into Methods; nil means
// ["publickey"].
func ParseMethods(names []string) (Methods, error) {
	if names == nil {
		return MethodPublicKey, nil
	}
	var m Methods
	for _, n := range names {
		switch n {
		case "publickey":
			m |= MethodPublicKey
		case "password":
			m |= MethodPassword
		default:
			return 0, fmt.Errorf("unknown authentication method %q (want publickey or password)", n)
		}
	}
	if m == 0 {
		return 0, errors.New("no authentication method")
	}
	return m, nil
}

// Argon2id parameters of new hashes: OWASP's minimum (19 MiB, 2 passes, 1
// lane). Every login attempt costs this much, so it stays small; the
// defender bounds how many attempts run at once.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an argon2id hash of pw in PHC string format.
func HashPassword(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// PasswordHash is a parsed password_hash: argon2id (PHC) or bcrypt.
type PasswordHash struct {
	id     string // a digest of the hash string: tells one password from another, and reveals neither
	bcrypt []byte // the whole bcrypt hash, or nil

	salt, key    []byte
	memory, time uint32
	threads      uint8
}

// Limits on argon2id parameters read from a config: a hash that asks for
// gigabytes per attempt would make every login a denial of service.
const (
	maxArgonMemory = 256 * 1024 // KiB
	maxArgonTime   = 16
)

// ParsePasswordHash checks a password_hash. Anything but an argon2id PHC
// string or a bcrypt hash is refused, above all a cleartext password.
func ParsePasswordHash(s string) (PasswordHash, error) {
	h, err := parsePasswordHash(s)
	if err == nil {
		sum := sha256.Sum256([]byte(s))
		h.id = hex.EncodeToString(sum[:16])
	}
	return h, err
}

func parsePasswordHash(s string) (PasswordHash, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil || len(s) != 60 {
			return PasswordHash{}, errors.New("is not a valid bcrypt hash")
		}
		return PasswordHash{bcrypt: []byte(s)}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	}
	return PasswordHash{}, errors.New("is not an argon2id or bcrypt hash (a cleartext password?): make one with `s3sftpd hash-password`")
}

func parseArgon2id(s string) (PasswordHash, error) {
	bad := errors.New("is not a valid argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$key)")
	f := strings.Split(s, "$")
	if len(f) != 6 || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return PasswordHash{}, bad
	}
	var h PasswordHash
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return PasswordHash{}, bad
	}
	var err1, err2 error
	h.salt, err1 = base64.RawStdEncoding.DecodeString(f[4])
	h.key, err2 = base64.RawStdEncoding.DecodeString(f[5])
	switch {
	case err1 != nil || err2 != nil || len(h.salt) < 8 || len(h.key) < 16 || h.time < 1 || h.threads < 1 || h.memory < 8*uint32(h.threads):
		return PasswordHash{}, bad
	case h.memory > maxArgonMemory || h.time > maxArgonTime:
		return PasswordHash{}, fmt.Errorf("asks for more than m=%d,t=%d: every login attempt would cost that much", maxArgonMemory, maxArgonTime)
	}
	return h, nil
}

// Verify reports whether pw matches, comparing in constant time.
func (h PasswordHash) Verify(pw string) bool {
	if h.bcrypt != nil {
		return bcrypt.CompareHashAndPassword(h.bcrypt, []byte(pw)) == nil
	}
	if h.key == nil {
		return false
	}
	key := argon2.IDKey([]byte(pw), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// dummyHash is verified against for unknown users and users without a
// password, so they cost the same time as a wrong password.
var dummyHash = sync.OnceValue(func() PasswordHash {
	h, err := ParsePasswordHash(HashPassword("s3sftpd unknown user"))
	if err != nil {
		panic("auth: own hash does not parse: " + err.Error())
	}
	return h
})

// CheckPassword returns the Tenant of a password login, or ErrDenied, doing
// the same work for an unknown user, a user without a password and a wrong
// password. The caller checks that the user's Methods include password.
func (u *Users) CheckPassword(name, pw string) (*Tenant, error) {
	usr, ok := u.byName[name]
	if !ok || usr.Password == nil {
		dummyHash().Verify(pw)
		return nil, ErrDenied
	}
	if !usr.Password.Verify(pw) {
		return nil, ErrDenied
	}
	return usr.tenant(), nil
}
