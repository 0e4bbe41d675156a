package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/pgp"
	"github.com/s3sftpd/s3sftpd/scan"
)

// Scan is the malware scan of uploads by ClamAV's clamd ([scan]). It is
// off while Clamd is empty; a folder asks for it (scan = true).
type Scan struct {
	// Clamd is clamd's address: "unix:/run/clamav/clamd.ctl" or
	// "tcp:HOST:PORT" on loopback or a private network (its protocol has
	// neither encryption nor authentication).
	Clamd string `toml:"clamd"`
	// OnUnavailable decides uploads to scanned folders while clamd is down
	// or gives no verdict: "refuse" (the default: they fail, and the
	// partner is told to retry) or "accept" (they are stored, marked
	// unscanned in the trail and on the object).
	OnUnavailable string `toml:"on_unavailable"`
	// MaxSize is the largest file a scanned folder takes; a larger one is
	// refused. clamd's StreamMaxLength must be at least this (at most 4 GiB).
	MaxSize Size `toml:"max_size"`
	// Timeout bounds connecting to clamd and each of its answers and
	// reads; VerdictTimeout bounds the scan once the whole file is sent.
	Timeout        Duration `toml:"timeout"`
	VerdictTimeout Duration `toml:"verdict_timeout"`
	// MaxDatabaseAge is the signature database age past which doctor
	// fails the scan check (freshclam has stopped updating it).
	MaxDatabaseAge Duration `toml:"max_database_age"`
}

// Values of Scan.OnUnavailable.
const (
	ScanRefuse = "refuse"
	ScanAccept = "accept"
)

// maxScanSize is clamd's ceiling for StreamMaxLength.
const maxScanSize = 4 * GiB

func defaultScan() Scan {
	return Scan{
		OnUnavailable: ScanRefuse, MaxSize: 1 * GiB,
		Timeout: Duration{scan.DefaultTimeout}, VerdictTimeout: Duration{scan.DefaultVerdictTimeout},
		MaxDatabaseAge: Duration{7 * 24 * time.Hour},
	}
}

// PGP is the gateway's OpenPGP identity ([pgp]): partners encrypt uploads
// to it, and downloads are signed with it.
type PGP struct {
	// PrivateKeyFile is the gateway's secret key (armored or binary,
	// without a passphrase), resolved against the config file's
	// directory; the file must be readable by its owner only.
	PrivateKeyFile string `toml:"private_key_file"`

	// PrivateKey is PrivateKeyFile loaded and validated; nil without one.
	PrivateKey *pgp.Key `toml:"-"`
}

// validateGates checks [scan], [pgp] and the users' OpenPGP keys, loading
// and validating every key file they name.
func (l *loader) validateGates(cfg *Config) {
	s := &cfg.Scan
	if s.Clamd != "" {
		if _, err := scan.New(s.Clamd); err != nil {
			l.errf("scan.clamd", "%v", err)
		}
	}
	if s.OnUnavailable != ScanRefuse && s.OnUnavailable != ScanAccept {
		l.errf("scan.on_unavailable", "must be %q or %q, got %q", ScanRefuse, ScanAccept, s.OnUnavailable)
	}
	if (s.MaxSize <= 0 || s.MaxSize > maxScanSize) && !l.failed["scan.max_size"] {
		l.errf("scan.max_size", "must be more than 0 and at most 4GiB (clamd's largest StreamMaxLength), got %v", s.MaxSize)
	}
	for _, c := range []struct {
		key string
		d   Duration
	}{{"scan.timeout", s.Timeout}, {"scan.verdict_timeout", s.VerdictTimeout}, {"scan.max_database_age", s.MaxDatabaseAge}} {
		if c.d.Duration <= 0 && !l.failed[c.key] {
			l.errf(c.key, "must be greater than 0")
		}
	}

	now := time.Now()
	p := &cfg.PGP
	if p.PrivateKeyFile != "" {
		p.PrivateKeyFile = l.resolve(p.PrivateKeyFile)
		k, err := pgp.LoadPrivateKeyFile(p.PrivateKeyFile, now)
		if err != nil {
			l.errf("pgp.private_key_file", "%s", keyFileProblem(p.PrivateKeyFile, err))
		}
		p.PrivateKey = k
	}
	for i := range cfg.Users {
		u := &cfg.Users[i]
		key := fmt.Sprintf("users[%d].pgp_public_keys_file", i)
		if u.PGPPublicKeysFile == "" {
			continue
		}
		u.PGPPublicKeysFile = l.resolve(u.PGPPublicKeysFile)
		keys, err := pgp.LoadPublicKeysFile(u.PGPPublicKeysFile, now)
		if err != nil {
			l.errf(key, "%s", keyFileProblem(u.PGPPublicKeysFile, err))
		}
		u.PGPPublicKeys = keys
		if p.PrivateKeyFile == "" && !l.failed["pgp.private_key_file"] {
			l.errf(key, "needs the gateway's own key: set [pgp] private_key_file")
		}
	}
}

// keyFileProblem is an OpenPGP key file's problem, in one line.
func keyFileProblem(path string, err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("%q does not exist", path)
	}
	if strings.Contains(err.Error(), path) {
		return err.Error()
	}
	return fmt.Sprintf("%s: %v", path, err)
}
