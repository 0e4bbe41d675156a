package objfmt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// ErrBadName means an encrypted name did not decrypt: it was not written
// with this tenant's name key, or was altered.
var ErrBadName = errors.New("object name did not decrypt")

// nameEncoding is lower-case base32 without padding: safe in object keys,
// URLs and case-insensitive file systems the bucket may be synced to.
var nameEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const sivSize = 16

// Names encrypts path segments deterministically (HMAC-SIV: the IV is an
// HMAC of the name, so equal names give equal ciphertexts and lookups stay
// direct; the IV authenticates the name on the way back). It hides names
// and their content, not their length or equality.
type Names struct {
	mac []byte
	enc cipher.Block
}

// NewNames derives one tenant's name keys from a 32-byte master key and the
// tenant's identity (its bucket and prefix), with HKDF-SHA256.
func NewNames(master []byte, bucket, prefix string) (*Names, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("name key is %d bytes, want %d", len(master), KeySize)
	}
	keys, err := hkdf.Key(sha256.New, master, nil, "s3sftpd names v1\x00"+bucket+"\x00"+prefix, 2*KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive name keys: %w", err)
	}
	block, err := aes.NewCipher(keys[KeySize:])
	if err != nil {
		return nil, fmt.Errorf("new aes cipher: %w", err)
	}
	return &Names{mac: keys[:KeySize], enc: block}, nil
}

// NamesFromKEK is NewNames with the key of a KEK.
func NamesFromKEK(k *KEK, bucket, prefix string) (*Names, error) {
	return NewNames(k.key, bucket, prefix)
}

func (n *Names) siv(name []byte) []byte {
	m := hmac.New(sha256.New, n.mac)
	m.Write(name)
	return m.Sum(nil)[:sivSize]
}

// Encrypt returns the stored form of one path segment:
// base32(SIV || AES-256-CTR(name) with SIV as the counter block).
func (n *Names) Encrypt(name string) string {
	iv := n.siv([]byte(name))
	out := make([]byte, sivSize+len(name))
	copy(out, iv)
	cipher.NewCTR(n.enc, iv).XORKeyStream(out[sivSize:], []byte(name))
	return nameEncoding.EncodeToString(out)
}

// EncryptedLen is the length of Encrypt's result for a name of n bytes.
func EncryptedLen(n int) int { return nameEncoding.EncodedLen(sivSize + n) }

// Decrypt reverses Encrypt.
func (n *Names) Decrypt(stored string) (string, error) {
	if stored != strings.ToLower(stored) {
		return "", ErrBadName
	}
	raw, err := nameEncoding.DecodeString(stored)
	if err != nil || len(raw) < sivSize || nameEncoding.EncodeToString(raw) != stored { // one spelling per name

		return "", ErrBadName
	}
	iv, ct := raw[:sivSize], raw[sivSize:]
	name := make([]byte, len(ct))
	cipher.NewCTR(n.enc, iv).XORKeyStream(name, ct)
	if !hmac.Equal(iv, n.siv(name)) {
		return "", ErrBadName
	}
	return string(name), nil
}
