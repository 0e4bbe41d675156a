package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Object metadata written by envelope encryption (S3 user metadata keys).
const (
	MetaVersion = "s3sftpd-enc"    // format version, "1"
	MetaKEK     = "s3sftpd-kek"    // id of the KEK that wrapped the data key
	MetaDEK     = "s3sftpd-dek"    // the wrapped data key, standard base64
	MetaContext = "s3sftpd-tenant" // KMS only: the encryption context the data key is bound to
	Version     = "1"
)

// ErrUnknownKEK means an object's data key was wrapped by a KEK that is not
// configured.
var ErrUnknownKEK = errors.New("key-encryption key not configured")

// KEK is a key-encryption key: it wraps and unwraps data keys.
type KEK struct {
	ID  string // KeyID of the key: names it without revealing it
	key []byte
}

// NewKEK returns a KEK for a 32-byte key.
func NewKEK(key []byte) (*KEK, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key-encryption key is %d bytes, want %d", len(key), KeySize)
	}
	return &KEK{ID: KeyID(key), key: append([]byte(nil), key...)}, nil
}

// KeyID names a key by the first 8 bytes of SHA-256("s3sftpd kek id\x00" ||
// key), in hex: stable, short, and useless for recovering the key.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("s3sftpd kek id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// LoadKEKFile reads a key file: 32 random bytes in standard base64,
// surrounding white space ignored. A file that group or others can read is
// refused, like ssh refuses such a private key.
func LoadKEKFile(path string) (*KEK, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is accessible by group or others (mode %#o); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("key file %s must hold %d random bytes in base64 (openssl rand -base64 32)", path, KeySize)
	}
	return NewKEK(key)
}

// wrapAAD binds a wrapped data key to the format version and the KEK id, so
// metadata naming another KEK or version fails to unwrap.
func wrapAAD(kekID string) []byte { return []byte("s3sftpd-dek-v" + Version + "\x00" + kekID) }

func (k *KEK) aead() cipher.AEAD {
	block, err := aes.NewCipher(k.key)
	if err != nil {
		panic("crypt: KEK of valid size refused: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("crypt: " + err.Error())
	}
	return aead
}

// Wrap encrypts a data key: a random 12-byte nonce followed by AES-256-GCM
// of the key under the KEK, with wrapAAD as additional data.
func (k *KEK) Wrap(dataKey []byte) []byte {
	n := make([]byte, nonceSize, nonceSize+len(dataKey)+Overhead)
	rand.Read(n)
	return k.aead().Seal(n, n, dataKey, wrapAAD(k.ID))
}

// Unwrap reverses Wrap.
func (k *KEK) Unwrap(wrapped []byte) ([]byte, error) {
	if len(wrapped) != nonceSize+KeySize+Overhead {
		return nil, fmt.Errorf("wrapped data key has %d bytes: %w", len(wrapped), ErrAuth)
	}
	key, err := k.aead().Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], wrapAAD(k.ID))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", ErrAuth)
	}
	return key, nil
}

// Keyring holds the KEKs: new objects use Current, objects wrapped by any of
// them can be read.
type Keyring struct {
	Current *KEK // nil in a keyring kept only for reading (data keys come from KMS)
	byID    map[string]*KEK
}

// NewKeyring builds a keyring; others are older KEKs kept for reading. A
// nil current makes a keyring that reads only: it serves a config that
// takes new data keys from KMS and keeps its old KEKs until rewrap has
// moved their objects.
func NewKeyring(current *KEK, others ...*KEK) *Keyring {
	r := &Keyring{Current: current, byID: map[string]*KEK{}}
	for _, k := range others {
		r.byID[k.ID] = k
	}
	if current != nil {
		r.byID[current.ID] = current
	}
	return r
}

// NewDataKey returns a fresh random data key and the metadata that stores
// it wrapped by the current KEK.
func (r *Keyring) NewDataKey() ([]byte, map[string]string) {
	key := make([]byte, KeySize)
	rand.Read(key)
	return key, r.metadata(r.Current, key)
}

func (r *Keyring) metadata(k *KEK, dataKey []byte) map[string]string {
	return map[string]string{
		MetaVersion: Version,
		MetaKEK:     k.ID,
		MetaDEK:     base64.StdEncoding.EncodeToString(k.Wrap(dataKey)),
	}
}

// Encrypted reports whether object metadata marks an envelope-encrypted
// object. Metadata keys are compared without case, as stores differ; an
// empty value (a key some stores keep, blanked, after an overwrite) is no mark.
func Encrypted(meta map[string]string) bool {
	v := MetaValue(meta, MetaVersion)
	return v != ""
}

// MetaValue is the value of metadata key in meta, compared without case
// (stores differ in how they return x-amz-meta-* names).
func MetaValue(meta map[string]string, key string) string {
	if v, ok := meta[key]; ok {
		return v
	}
	for k, v := range meta {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// DataKey unwraps the data key of an object from its metadata.
func (r *Keyring) DataKey(meta map[string]string) ([]byte, error) {
	if v := MetaValue(meta, MetaVersion); v != Version {
		return nil, fmt.Errorf("unsupported encryption format version %q", v)
	}
	id := MetaValue(meta, MetaKEK)
	k := r.byID[id]
	if k == nil {
		return nil, fmt.Errorf("data key wrapped by %q: %w", id, ErrUnknownKEK)
	}
	dek := MetaValue(meta, MetaDEK)
	wrapped, err := base64.StdEncoding.DecodeString(dek)
	if err != nil {
		return nil, fmt.Errorf("decode wrapped data key: %w", ErrAuth)
	}
	return k.Unwrap(wrapped)
}

// Rewrap returns meta with the data key wrapped by the current KEK, and
// whether anything changed (false when it already is).
func (r *Keyring) Rewrap(meta map[string]string) (map[string]string, bool, error) {
	if r.Current == nil {
		return nil, false, errors.New("rewrap: no current key-encryption key")
	}
	if id := MetaValue(meta, MetaKEK); id == r.Current.ID {
		return meta, false, nil
	}
	key, err := r.DataKey(meta)
	if err != nil {
		return nil, false, err
	}
	return WithDataKey(meta, r.metadata(r.Current, key)), true, nil
}

// WithDataKey returns meta with its wrapped data key (and everything that
// describes it: format version, wrapping key, KMS encryption context)
// replaced by keyMeta; the rest of meta is kept.
func WithDataKey(meta, keyMeta map[string]string) map[string]string {
	out := make(map[string]string, len(meta)+len(keyMeta))
	for k, v := range meta {
		switch strings.ToLower(k) {
		case MetaVersion, MetaKEK, MetaDEK, MetaContext:
		default:
			out[k] = v
		}
	}
	for k, v := range keyMeta {
		out[k] = v
	}
	return out
}
