// Package pgp is the gateway's OpenPGP: it decrypts uploads encrypted to
// the gateway's key and verifies their signer against the partner's public
// keys (Decrypt, an upload stage), encrypts downloads to the partner's keys
// signed by the gateway's (Encrypter, whose output size is known in
// advance), and loads and validates keys (expired, revoked, weak or unfit
// keys are refused with a plain reason).
//
// It streams: no message is held whole, and nothing is written anywhere.
// It knows nothing of S3, SFTP or the upload's parts; its refusals are
// errors whose text is written for the partner (see Refusal). The OpenPGP
// is github.com/ProtonMail/go-crypto's (RFC 9580: v6 keys, AEAD).
package pgp

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// minRSABits is the smallest RSA key accepted (NIST SP 800-131A).
const minRSABits = 2048

// config is the OpenPGP policy of every operation: weak keys and hashes
// refused, SHA-256 signatures, AES-256.
func config(now time.Time) *packet.Config {
	return &packet.Config{
		DefaultHash:   crypto.SHA256,
		DefaultCipher: packet.CipherAES256,
		MinRSABits:    minRSABits,
		RejectPublicKeyAlgorithms: map[packet.PublicKeyAlgorithm]bool{
			packet.PubKeyAlgoElGamal: true,
			packet.PubKeyAlgoDSA:     true,
		},
		Time: func() time.Time { return now },
	}
}

// A Key is one validated OpenPGP certificate (a primary key and its
// subkeys): a partner's public key, or the gateway's with its secret.
type Key struct {
	entity *openpgp.Entity
}

// Fingerprint is the primary key's fingerprint in upper-case hex, as
// GnuPG shows it: the identity kept in the trail.
func (k *Key) Fingerprint() string { return fmt.Sprintf("%X", k.entity.PrimaryKey.Fingerprint) }

// KeyError is a key refused, with the reason, for check-config and the
// log: "key 5D1C… (acme <ops@acme.example>): expired on 2026-01-31".
type KeyError struct {
	Key    string // fingerprint and first user ID, or "" when unreadable
	Reason string
}

func (e *KeyError) Error() string {
	if e.Key == "" {
		return e.Reason
	}
	return "key " + e.Key + ": " + e.Reason
}

// ReadPublicKeys reads a partner's public keys (armored or binary; one or
// more) and validates each for use at now: every key must be usable for
// both verifying a signature and encrypting, with strong algorithms.
func ReadPublicKeys(r io.Reader, now time.Time) ([]*Key, error) {
	entities, err := readKeyRing(r)
	if err != nil {
		return nil, err
	}
	keys := make([]*Key, 0, len(entities))
	for _, e := range entities {
		if err := validate(e, now, false); err != nil {
			return nil, err
		}
		keys = append(keys, &Key{entity: e})
	}
	return keys, nil
}

// ReadPrivateKey reads the gateway's key, which must hold its secrets
// unprotected (the gateway cannot be asked for a passphrase: the file's
// owner-only permission protects it), and validates it like a public key.
func ReadPrivateKey(r io.Reader, now time.Time) (*Key, error) {
	entities, err := readKeyRing(r)
	if err != nil {
		return nil, err
	}
	if len(entities) != 1 {
		return nil, &KeyError{Reason: fmt.Sprintf("the gateway's key file holds %d keys; want exactly one", len(entities))}
	}
	e := entities[0]
	if err := validate(e, now, true); err != nil {
		return nil, err
	}
	return &Key{entity: e}, nil
}

// LoadPrivateKeyFile reads the gateway's key from path, refusing a file
// that anyone but its owner may read or write.
func LoadPrivateKeyFile(path string, now time.Time) (*Key, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &KeyError{Reason: fmt.Sprintf("%s is readable or writable by others (mode %04o); it holds the gateway's secret key: chmod 600 it", path, perm)}
	}
	return ReadPrivateKey(f, now)
}

// LoadPublicKeysFile reads a partner's public keys from path.
func LoadPublicKeysFile(path string, now time.Time) ([]*Key, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadPublicKeys(f, now)
}

// open opens a key file, saying plainly when it is not there.
func open(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%q does not exist", path)
	}
	return f, err
}

// readKeyRing reads binary keys, or every armored key block of a file (a
// partner's file often holds several, one after the other).
func readKeyRing(r io.Reader) (openpgp.EntityList, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(64)
	if !bytes.Contains(head, []byte("-----BEGIN PGP")) {
		el, err := openpgp.ReadKeyRing(br)
		if err != nil {
			return nil, &KeyError{Reason: "not an OpenPGP key: " + err.Error()}
		}
		return el, nil
	}
	var el openpgp.EntityList
	for {
		block, err := armor.Decode(br)
		if errors.Is(err, io.EOF) && len(el) > 0 {
			break
		}
		if err != nil {
			return nil, &KeyError{Reason: "not an OpenPGP key: " + err.Error()}
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return nil, &KeyError{Reason: "not an OpenPGP key: the file holds a " + block.Type}
		}
		keys, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, &KeyError{Reason: "not an OpenPGP key: " + err.Error()}
		}
		el = append(el, keys...)
	}
	if len(el) == 0 {
		return nil, &KeyError{Reason: "no OpenPGP key in the file"}
	}
	return el, nil
}

// validate refuses a key that is revoked, expired, of a weak algorithm,
// or without a valid subkey to encrypt and a valid key to sign with.
func validate(e *openpgp.Entity, now time.Time, secret bool) error {
	name := describe(e)
	fail := func(format string, args ...any) error {
		return &KeyError{Key: name, Reason: fmt.Sprintf(format, args...)}
	}
	if err := checkAlgorithm(e.PrimaryKey); err != nil {
		return fail("%v", err)
	}
	for _, sk := range e.Subkeys {
		if err := checkAlgorithm(sk.PublicKey); err != nil {
			return fail("subkey %s: %v", sk.PublicKey.KeyIdString(), err)
		}
	}
	cfg := config(now)
	if e.Revoked(now) {
		return fail("revoked")
	}
	if sig, err := e.VerifyPrimaryKey(now, cfg); err != nil {
		if errors.Is(err, pgperrors.ErrKeyExpired) && sig != nil && sig.KeyLifetimeSecs != nil {
			expiry := e.PrimaryKey.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
			return fail("expired on %s", expiry.UTC().Format(time.DateOnly))
		}
		if errors.Is(err, pgperrors.ErrKeyExpired) {
			return fail("expired")
		}
		return fail("not valid: %v", err)
	}
	if _, err := e.EncryptionKeyWithError(now, cfg); err != nil {
		return fail("no valid encryption subkey (expired, revoked or missing)")
	}
	if _, ok := e.SigningKey(now, cfg); !ok {
		return fail("no valid signing key (expired, revoked or missing)")
	}
	if secret {
		if e.PrivateKey == nil {
			return fail("holds no secret key: the gateway's key file must be exported with its secret (gpg --export-secret-keys)")
		}
		for _, pk := range append([]*packet.PrivateKey{e.PrivateKey}, subkeySecrets(e)...) {
			if pk != nil && pk.Encrypted {
				return fail("its secret is protected by a passphrase, which the gateway cannot be given: export it without one and keep the file owner-only")
			}
		}
	}
	return nil
}

func subkeySecrets(e *openpgp.Entity) []*packet.PrivateKey {
	var out []*packet.PrivateKey
	for _, sk := range e.Subkeys {
		out = append(out, sk.PrivateKey)
	}
	return out
}

// checkAlgorithm refuses DSA, ElGamal and RSA under 2048 bits.
func checkAlgorithm(pk *packet.PublicKey) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoDSA:
		return errors.New("DSA keys are not accepted (weak, deprecated by RFC 9580); use Ed25519 or RSA ≥ 2048 bits")
	case packet.PubKeyAlgoElGamal:
		return errors.New("ElGamal keys are not accepted (deprecated by RFC 9580); use Curve25519 or RSA ≥ 2048 bits")
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		bits, err := pk.BitLength()
		if err != nil {
			return err
		}
		if bits < minRSABits {
			return fmt.Errorf("RSA key of %d bits is too weak; want at least %d", bits, minRSABits)
		}
	}
	return nil
}

// describe names a key for messages: its fingerprint and first user ID.
func describe(e *openpgp.Entity) string {
	fp := fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
	names := slices.Sorted(maps.Keys(e.Identities))
	if len(names) == 0 {
		return fp
	}
	return fp + " (" + strings.ToValidUTF8(names[0], "?") + ")"
}
