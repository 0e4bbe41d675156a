package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/auth"

	"github.com/s3sftpd/s3sftpd/pgp"
	"github.com/s3sftpd/s3sftpd/scan"
)

// Scan is [scan], the malware scan of uploads by clamd (docs/configuration.md).
type Scan struct {
	Clamd         string `toml:"clamd"`          // unix:/path, or tcp:HOST:PORT on loopback or a private address; "" is off
	OnUnavailable string `toml:"on_unavailable"` // clamd down: "refuse" (fail closed) or "accept" (stored unscanned)
	MaxSize       Size   `toml:"max_size"`       // larger files are refused in scanned folders; at most 4GiB
}

// PGP is [pgp]: the gateway's OpenPGP key, owner-only, loaded into PrivateKey.
type PGP struct {
	PrivateKeyFile string   `toml:"private_key_file"`
	PrivateKey     *pgp.Key `toml:"-"`
}

// validateGates checks [scan] and [pgp], and loads every OpenPGP key file.
func (l *loader) validateGates(cfg *Config) {
	for key, err := range scan.CheckConfig(cfg.Scan.Clamd, cfg.Scan.OnUnavailable, int64(cfg.Scan.MaxSize)) {
		l.errf("scan."+key, "%v", err)
	}
	p := &cfg.PGP
	var err error
	if p.PrivateKeyFile = l.resolve(p.PrivateKeyFile); p.PrivateKeyFile != "" {
		if p.PrivateKey, err = pgp.LoadPrivateKeyFile(p.PrivateKeyFile, time.Now()); err != nil {
			l.errf("pgp.private_key_file", "%v", err)
		}
	}
	for i := range cfg.Users {
		u, key := &cfg.Users[i], fmt.Sprintf("users[%d].pgp_public_keys_file", i)
		if u.PGPPublicKeysFile = l.resolve(u.PGPPublicKeysFile); u.PGPPublicKeysFile == "" {
			continue
		} else if u.PGPPublicKeys, err = pgp.LoadPublicKeysFile(u.PGPPublicKeysFile, time.Now()); err != nil {
			l.errf(key, "%v", err)
		} else if p.PrivateKeyFile == "" {
			l.errf(key, "needs the gateway's own key: set [pgp] private_key_file")
		}
	}
	l.validateMountGates(cfg)
}

// validateMountGates checks every place's content gates against [scan],
// [pgp] and the user's keys, at the key that sets them. It runs after the
// trees are resolved and the key files loaded.
func (l *loader) validateMountGates(cfg *Config) {
	for i := range cfg.Users {
		u := &cfg.Users[i]
		for _, m := range u.Tree {
			key, who := m.Key, ""
			if strings.HasPrefix(key, "groups[") {
				who = fmt.Sprintf(" (user %q)", u.Name)
			}
			g := m.Gates
			if m.Home() && g == (auth.Gates{}) {
				continue
			}
			if g.Scan && cfg.Scan.Clamd == "" {
				l.errf(key+".scan", "needs a malware scanner: set [scan] clamd")
			}
			switch g.PGP {
			case "":
			case auth.PGPDecrypt, auth.PGPEncrypt:
				if cfg.PGP.PrivateKeyFile == "" {
					l.errf(key+".pgp", "needs the gateway's own key: set [pgp] private_key_file")
				} else if u.PGPPublicKeysFile == "" && (g.PGP == auth.PGPEncrypt || g.RequireSignature) {
					l.errf(key+".pgp", "%q needs the partner's keys%s: set pgp_public_keys_file on the user", g.PGP, who)
				}
			default:
				l.errf(key+".pgp", `must be "decrypt" or "encrypt", not %q`, g.PGP)
			}
			if g.RequireSignature && g.PGP != auth.PGPDecrypt {
				l.errf(key+".pgp_require_signature", `applies only with pgp = "decrypt"`)
			}
		}
	}
}
