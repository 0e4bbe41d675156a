package config

import (
	"fmt"
	"time"

	"github.com/s3sftpd/s3sftpd/config/tree"

	"github.com/s3sftpd/s3sftpd/pgp"
	"github.com/s3sftpd/s3sftpd/scan"
)

// Scan is [scan], the malware scan of uploads by clamd (docs/configuration.md).
type Scan struct {
	Clamd         string `toml:"clamd"`          // unix:/path, or tcp:HOST:PORT on loopback or a private address; "" is off
	OnUnavailable string `toml:"on_unavailable"` // clamd down: "refuse" (fail closed) or "accept" (stored unscanned)
	MaxSize       Size   `toml:"max_size"`       // larger files are refused in scanned folders; at most 4GiB
}

// Client is the clamd client of [scan], nil when it is off.
func (s Scan) Client() *scan.Client {
	c, err := scan.New(s.Clamd) // Load checked the address
	if err != nil {
		return nil
	}
	c.MaxSize = int64(s.MaxSize)
	return c
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
// [pgp] and the user's keys (tree.GateProblems), once the trees are
// resolved and the key files loaded.
func (l *loader) validateMountGates(cfg *Config) {
	have := tree.Have{Clamd: cfg.Scan.Clamd != "", GatewayKey: cfg.PGP.PrivateKeyFile != ""}
	seen := map[tree.Problem]bool{} // a group's folder, once for all its users
	for _, u := range cfg.Users {
		have.PartnerKeys = u.PGPPublicKeysFile != ""
		for _, m := range u.Tree {
			for _, p := range tree.GateProblems(u.Name, m, have) {
				if !seen[p] {
					seen[p] = true
					l.problems([]tree.Problem{p})
				}
			}
		}
	}
}
