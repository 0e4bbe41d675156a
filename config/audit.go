package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Audit configures the audit trail: where records go, how they are
// protected, and what happens when they cannot be written.
type Audit struct {
	// File is the local audit log, created with mode 0600 and rotated by
	// size; "" turns the file off. Resolved against the config file's
	// directory.
	File string `toml:"file"`
	// Stdout also writes every record to standard output.
	Stdout bool `toml:"stdout"`
	// HMACKeyFile holds the secret that keys a MAC over every record (and
	// the path hashes of Paths = "hmac"). It must not be readable by group
	// or others. Resolved against the config file's directory.
	HMACKeyFile string `toml:"hmac_key_file"`
	// Paths is "plain" or "hmac": with "hmac", paths and object keys are
	// replaced by keyed hashes, so records correlate without naming files.
	Paths string `toml:"paths"`
	// OnFailure is "deny" (refuse new file operations while records cannot
	// be written) or "continue" (log loudly and go on).
	OnFailure string `toml:"on_failure"`
	// S3Bucket, if set, receives every closed segment of File under
	// S3Prefix, with the server-side encryption of [s3], so that history
	// which left the machine cannot be rewritten on it. Needs File. While a
	// segment cannot be shipped, on_failure applies.
	S3Bucket string `toml:"s3_bucket"`
	S3Prefix string `toml:"s3_prefix"`

	// Durability of File. Before the file would grow past RotateSize, or
	// once it has been open for RotateEvery ("0s" = by size only), it is
	// closed with a segment_end record and renamed to a segment
	// (audit-000000000001.jsonl: the seq of its first record). Every
	// CheckpointEvery, if records were written, a checkpoint record is
	// written and copied to File+".checkpoint", which lets verify see a
	// tail cut back past it.
	RotateSize      Size     `toml:"rotate_size"`
	RotateEvery     Duration `toml:"rotate_every"`
	CheckpointEvery Duration `toml:"checkpoint_every"`
	// HMACKey is the content of HMACKeyFile. It is a secret: never print it.
	HMACKey []byte `toml:"-"`
}

// Audit policy values.
const (
	AuditPathsPlain = "plain"
	AuditPathsHMAC  = "hmac"
	AuditDeny       = "deny"
	AuditContinue   = "continue"

	// minRotateSize keeps segments from being mostly segment records.
	minRotateSize = 4 * KiB

	// minHMACKey is the shortest accepted HMAC key: 256 bits.
	minHMACKey = 32
	maxHMACKey = 4096
)

func (l *loader) validateAudit(cfg *Config) {
	a := &cfg.Audit
	if a.File != "" {
		a.File = l.resolve(a.File)
	}
	switch a.Paths {
	case AuditPathsPlain:
	case AuditPathsHMAC:
		if a.HMACKeyFile == "" && !l.failed["audit.hmac_key_file"] {
			l.errf("audit.paths", `"hmac" needs hmac_key_file: the hashes are keyed`)
		}
	default:
		l.errf("audit.paths", `must be "plain" or "hmac", got %q`, a.Paths)
	}
	if a.OnFailure != AuditDeny && a.OnFailure != AuditContinue {
		l.errf("audit.on_failure", `must be "deny" or "continue", got %q`, a.OnFailure)
	}
	if a.HMACKeyFile != "" {
		a.HMACKeyFile = l.resolve(a.HMACKeyFile)
		key, err := readHMACKey(a.HMACKeyFile)
		if err != nil {
			l.errf("audit.hmac_key_file", "%v", err)
		}
		a.HMACKey = key
	}
	if a.RotateSize < minRotateSize {
		l.errf("audit.rotate_size", "must be at least %v, got %v", Size(minRotateSize), a.RotateSize)
	}
	if a.RotateEvery.Duration < 0 {
		l.errf("audit.rotate_every", `must not be negative ("0s" rotates by size only)`)
	}
	if a.CheckpointEvery.Duration <= 0 {
		l.errf("audit.checkpoint_every", "must be greater than 0")
	}
	if a.S3Bucket != "" {
		l.bucketName("audit.s3_bucket", a.S3Bucket)
		if msg := prefixProblem(a.S3Prefix); msg != "" {
			l.errf("audit.s3_prefix", "%s", msg)
		} else {
			l.auditInsideHome(cfg)
		}
		if a.File == "" {
			l.errf("audit.s3_bucket", "needs audit.file: the S3 sink ships closed segments of the local file")
		}
	}
}

// prefixProblem returns what is wrong with the audit prefix, or "". Unlike a
// home it may be empty (the bucket's root).
func prefixProblem(p string) string {
	if p == "" {
		return ""
	}
	return homeProblem(p)
}

// auditInsideHome reports an audit prefix that a user could reach through
// its home or a folder: a partner must never read, overwrite or delete the
// trail.
func (l *loader) auditInsideHome(cfg *Config) {
	a := cfg.Audit
	for i, u := range cfg.Users {
		for _, m := range u.Tree {
			if m.Bucket == a.S3Bucket && (strings.HasPrefix(a.S3Prefix, m.Prefix) || strings.HasPrefix(m.Prefix, a.S3Prefix)) {
				l.errf("audit.s3_prefix", "%q overlaps %s of users[%d] %q (%q) in bucket %q: partners must not reach the audit trail",
					a.S3Prefix, m.Where(), i, u.Name, m.Prefix, a.S3Bucket)
				return
			}
		}
	}
}

// readSecret reads a key file of at most max bytes that only its owner may
// read. Errors never quote the content.
func readSecret(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%q does not exist", path)
		}
		return nil, fmt.Errorf("cannot open %q: %v", path, err.(*os.PathError).Err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot stat %q: %v", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%q is readable by group or others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read %q: %v", path, err)
	case int64(len(b)) > max:
		return nil, fmt.Errorf("%q is larger than %d bytes: not a key file", path, max)
	}
	return b, nil
}

// readHMACKey reads the audit trail's HMAC key: raw bytes, at least minHMACKey.
func readHMACKey(path string) ([]byte, error) {
	key, err := readSecret(path, maxHMACKey)
	if err == nil && len(key) < minHMACKey {
		err = fmt.Errorf("%q holds %d bytes; an HMAC key needs at least %d (for example: head -c 32 /dev/urandom > FILE)", path, len(key), minHMACKey)
	}
	return key, err
}
