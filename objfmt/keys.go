package objfmt

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
	MetaVersion = "s3sftpd-enc" // format version: Version, or Version1 for objects written before it
	MetaKEK     = "s3sftpd-kek" // id of the KEK that wrapped the data key
	MetaDEK     = "s3sftpd-dek" // the wrapped data key, standard base64
	// MetaContext is the tenant the data key is bound to, BUCKET/HOME
	// (version 1: KMS only, its encryption context).
	MetaContext  = "s3sftpd-tenant"
	MetaObjectID = "s3sftpd-oid" // version 2: the random id the chunks are bound to
	Version      = "2"
	Version1     = "1"
)

// Binding is where an object lives, as a version-2 data key's wrapping
// binds it: a copy of the object (bytes and metadata) under any other name,
// home or bucket fails to unwrap.
type Binding struct {
	Bucket string
	Home   string // the user's home prefix, ending in "/"
	Key    string // the object key below Home (stored form: encrypted, when names are)
}

// Tenant is the MetaContext value of the binding, BUCKET/HOME.
func (b Binding) Tenant() string { return b.Bucket + "/" + b.Home }

// BindingOf is the binding of object key in bucket whose metadata names the
// home it was bound to: for tools that know no tenant. The home must be the
// bucket's and a prefix of key; the unwrap then proves the rest.
func BindingOf(meta map[string]string, bucket, key string) (Binding, error) {
	tenant := MetaValue(meta, MetaContext)
	home, ok := strings.CutPrefix(tenant, bucket+"/")
	if !ok || !strings.HasPrefix(key, home) {
		return Binding{}, fmt.Errorf("data key bound to another place (%s) than s3://%s/%s: %w", tenant, bucket, key, ErrAuth)
	}
	return Binding{Bucket: bucket, Home: home, Key: key[len(home):]}, nil
}

// RecordedBinding is the binding of object key in bucket as its metadata
// records it, for tools that know no tenant: from version 2, BindingOf; in
// version 1, the tenant a KMS data key was wrapped for, and nothing for a
// KEK (version 1 binds no place).
func RecordedBinding(meta map[string]string, bucket, key string) (Binding, error) {
	if MetaValue(meta, MetaVersion) != Version1 {
		return BindingOf(meta, bucket, key)
	}
	b, home, _ := strings.Cut(MetaValue(meta, MetaContext), "/")
	return Binding{Bucket: b, Home: home}, nil
}

// NewObjectID returns a random object id: 16 bytes in lower-case hex.
func NewObjectID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// validObjectID reports whether id is one NewObjectID could have made, or
// "" (an object upgraded from version 1). Metadata is the attacker's to
// write: anything else is refused before it reaches a wrap's AAD.
func validObjectID(id string) bool {
	if id == "" {
		return true
	}
	b, err := hex.DecodeString(id)
	return err == nil && len(b) == 16 && hex.EncodeToString(b) == id
}

// BindingDigest names binding b and object id objectID without revealing
// the key: hex of SHA-256("s3sftpd-object-v2" ‖ 0 ‖ objectID ‖ 0 ‖ key).
// KMS records encryption contexts in CloudTrail, so a name never goes there.
func BindingDigest(b Binding, objectID string) string {
	sum := sha256.Sum256([]byte("s3sftpd-object-v2\x00" + objectID + "\x00" + b.Key))
	return hex.EncodeToString(sum[:])
}

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

// wrapAAD binds a wrapped data key to the format version and the KEK id,
// and in version 2 to the object's binding and id, so metadata naming
// another KEK or version, or moved to another name, fails to unwrap. Only
// the key may hold a 0 byte (the jail refuses one anyway): it comes last.
func wrapAAD(version, kekID string, b Binding, objectID string) []byte {
	if version == Version1 {
		return []byte("s3sftpd-dek-v1\x00" + kekID)
	}
	return []byte("s3sftpd-dek-v2\x00" + kekID + "\x00" + b.Bucket + "\x00" + b.Home + "\x00" + objectID + "\x00" + b.Key)
}

func (k *KEK) aead() cipher.AEAD {
	block, err := aes.NewCipher(k.key)
	if err != nil {
		panic("objfmt: KEK of valid size refused: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("objfmt: " + err.Error())
	}
	return aead
}

// wrap encrypts a data key: a random 12-byte nonce followed by AES-256-GCM
// of the key under the KEK, with aad (from wrapAAD) as additional data.
func (k *KEK) wrap(dataKey, aad []byte) []byte {
	n := make([]byte, nonceSize, nonceSize+len(dataKey)+Overhead)
	rand.Read(n)
	return k.aead().Seal(n, n, dataKey, aad)
}

// unwrap reverses wrap.
func (k *KEK) unwrap(wrapped, aad []byte) ([]byte, error) {
	if len(wrapped) != nonceSize+KeySize+Overhead {
		return nil, fmt.Errorf("wrapped data key has %d bytes: %w", len(wrapped), ErrAuth)
	}
	key, err := k.aead().Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], aad)
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

// NewDataKey returns a fresh random data key for a new object at b, and
// the metadata that stores it wrapped by the current KEK with a new object id.
func (r *Keyring) NewDataKey(b Binding) ([]byte, map[string]string) {
	key := make([]byte, KeySize)
	rand.Read(key)
	return key, r.Wrap(key, b, NewObjectID())
}

// Wrap returns the version-2 metadata of data key dataKey wrapped by the
// current KEK for an object at b with id objectID ("" for an object
// upgraded from version 1, whose chunks are bound to no id).
func (r *Keyring) Wrap(dataKey []byte, b Binding, objectID string) map[string]string {
	k := r.Current
	m := map[string]string{
		MetaVersion: Version,
		MetaKEK:     k.ID,
		MetaDEK:     base64.StdEncoding.EncodeToString(k.wrap(dataKey, wrapAAD(Version, k.ID, b, objectID))),
		MetaContext: b.Tenant(),
	}
	if objectID != "" {
		m[MetaObjectID] = objectID
	}
	return m
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

// DataKey unwraps the data key of an object at b from its metadata. A
// version-2 key wrapped for another place fails with ErrAuth; version 1
// binds no place and ignores b.
func (r *Keyring) DataKey(meta map[string]string, b Binding) ([]byte, error) {
	v := MetaValue(meta, MetaVersion)
	if v != Version && v != Version1 {
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
	objectID := MetaValue(meta, MetaObjectID)
	if !validObjectID(objectID) {
		return nil, fmt.Errorf("object id %q: %w", objectID, ErrAuth)
	}
	return k.unwrap(wrapped, wrapAAD(v, id, b, objectID))
}

// WithDataKey returns meta with its wrapped data key (and everything that
// describes it: format version, wrapping key, binding, object id) replaced
// by keyMeta; the rest of meta is kept.
func WithDataKey(meta, keyMeta map[string]string) map[string]string {
	out := make(map[string]string, len(meta)+len(keyMeta))
	for k, v := range meta {
		switch strings.ToLower(k) {
		case MetaVersion, MetaKEK, MetaDEK, MetaContext, MetaObjectID:
		default:
			out[k] = v
		}
	}
	for k, v := range keyMeta {
		out[k] = v
	}
	return out
}
