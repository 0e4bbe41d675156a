package config

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Encryption configures gateway-side encryption, on top of [s3] sse.
type Encryption struct {
	// Mode is "sse" (server-side encryption only) or "envelope": the
	// gateway also encrypts every object it writes with its own random
	// data key, wrapped by the key-encryption key (KEK) of KEKFile, and
	// refuses to serve objects not so encrypted.
	Mode string `toml:"mode"`
	// KEKFile holds the current KEK: 32 random bytes in base64 (openssl
	// rand -base64 32), mode 0600. New objects use it. Resolved against
	// the config file's directory.
	KEKFile string `toml:"kek_file"`
	// OldKEKFiles are earlier KEKs, kept so objects they wrapped stay
	// readable until `s3sftpd rewrap` has moved them to KEKFile (or to
	// KMSKeyID, which needs no KEKFile then).
	OldKEKFiles []string `toml:"old_kek_files"`
	// KMSKeyID takes the data keys of new objects from AWS KMS
	// (GenerateDataKey, with an encryption context naming the user's bucket
	// and home) instead of KEKFile; KEKFile, if also set, still reads the
	// objects it wrapped. A key id, ARN or alias.
	KMSKeyID string `toml:"kms_key_id"`
	// Names is "plain" or "encrypted": each path segment below a user's
	// home is stored encrypted with a key derived from NamesKEKFile and the
	// home, so object keys carry no PHI.
	Names string `toml:"names"`
	// NamesKEKFile is the key names derive from; "" means KEKFile. It must
	// never change while objects exist (their names would be lost), so set
	// it to the original KEK before rotating kek_file.
	NamesKEKFile string `toml:"names_kek_file"`
	// FormatV1 is "read" or "refuse": whether downloads and renames accept
	// envelope objects of format version 1, whose data keys are bound to no
	// name, so a bucket writer can copy one over another user's file.
	// Set "refuse" once `s3sftpd rewrap` has upgraded every object.
	FormatV1 string `toml:"format_v1"`

	// The keys read from the files. Secrets: never print them.
	KEK      []byte   `toml:"-"`
	OldKEKs  [][]byte `toml:"-"`
	NamesKEK []byte   `toml:"-"`
}

// Encryption values.
const (
	EncryptionSSE      = "sse"
	EncryptionEnvelope = "envelope"
	NamesPlain         = "plain"
	NamesEncrypted     = "encrypted"
	FormatV1Read       = "read"
	FormatV1Refuse     = "refuse"
	kekSize            = 32
)

func (l *loader) validateEncryption(e *Encryption) {
	switch e.Mode {
	case EncryptionSSE, EncryptionEnvelope:
	default:
		l.errf("encryption.mode", `must be "sse" or "envelope", got %q`, e.Mode)
	}
	switch e.Names {
	case NamesPlain, NamesEncrypted:
	default:
		l.errf("encryption.names", `must be "plain" or "encrypted", got %q`, e.Names)
	}
	switch e.FormatV1 {
	case FormatV1Read, FormatV1Refuse:
	default:
		l.errf("encryption.format_v1", `must be "read" or "refuse", got %q`, e.FormatV1)
	}
	if e.KMSKeyID != "" && e.Mode != EncryptionEnvelope {
		l.errf("encryption.kms_key_id", `is used only with mode = "envelope"`)
	}
	switch {
	case e.KEKFile != "":
	case l.failed["encryption.kek_file"]:
	case e.Mode == EncryptionEnvelope && e.KMSKeyID == "":
		l.errf("encryption", `mode = "envelope" needs kek_file or kms_key_id (a KEK is 32 random bytes in base64: openssl rand -base64 32 > FILE; chmod 600 FILE)`)
	case e.Names == NamesEncrypted && e.NamesKEKFile == "":
		l.errf("encryption", `names = "encrypted" needs kek_file or names_kek_file (32 random bytes in base64: openssl rand -base64 32 > FILE; chmod 600 FILE)`)
	}
	if e.KEKFile != "" {
		e.KEKFile = l.resolve(e.KEKFile)
		e.KEK = l.kek("encryption.kek_file", e.KEKFile)
	}
	for i, f := range e.OldKEKFiles {
		e.OldKEKFiles[i] = l.resolve(f)
		e.OldKEKs = append(e.OldKEKs, l.kek(fmt.Sprintf("encryption.old_kek_files[%d]", i), e.OldKEKFiles[i]))
	}
	switch {
	case e.NamesKEKFile != "":
		e.NamesKEKFile = l.resolve(e.NamesKEKFile)
		e.NamesKEK = l.kek("encryption.names_kek_file", e.NamesKEKFile)
	default:
		e.NamesKEK = e.KEK
	}
}

// kek reads a key-encryption key file and reports its problems at key.
func (l *loader) kek(key, path string) []byte {
	b, err := readKEK(path)
	if err != nil {
		l.errf(key, "%v", err)
	}
	return b
}

// readKEK reads 32 bytes in base64 from a file only its owner may read.
// Errors never quote the content.
func readKEK(path string) ([]byte, error) {
	text, err := readSecret(path, 1024)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(key) != kekSize {
		return nil, fmt.Errorf("%q must hold %d random bytes in base64 (openssl rand -base64 32 > FILE)", path, kekSize)
	}
	return key, nil
}
