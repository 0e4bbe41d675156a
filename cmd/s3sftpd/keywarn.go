package main

import (
	"crypto/rsa"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/config"
)

// recommendedRSABits: RSA user keys below it get a warning (NIST SP 800-57
// gives 2048-bit RSA 112-bit security, acceptable only until 2030).
const recommendedRSABits = 3072

// keyWarnings lists the weak RSA keys and the keys that expired or expire
// within ahead of now, one "SOURCE: warning: …" line each, for check-config
// (ahead inventory.ExpiryAhead) and the log at start-up (ahead 0: the
// server's daily reminder warns of keys about to expire).
func keyWarnings(cfg *config.Config, now time.Time, ahead time.Duration) []string {
	var out []string
	for _, u := range cfg.Users {
		for _, k := range u.PublicKeys {
			if ck, ok := k.Key.(ssh.CryptoPublicKey); ok {
				if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < recommendedRSABits {
					out = append(out, fmt.Sprintf("%s: warning: user %s: RSA key %s has %d bits; new keys should have %d or more (or be ssh-ed25519)",
						k.Source, u.Name, auth.Fingerprint(k.Key), rk.N.BitLen(), recommendedRSABits))
				}
			}
			exp := k.Restrictions.Expiry
			switch {
			case exp.IsZero():
			case !now.Before(exp):
				out = append(out, fmt.Sprintf("%s: warning: user %s: key %s expired at %s; it is refused",
					k.Source, u.Name, auth.Fingerprint(k.Key), exp.UTC().Format(time.RFC3339)))
			case exp.Sub(now) <= ahead:
				out = append(out, fmt.Sprintf("%s: warning: user %s: key %s expires at %s (in %s)",
					k.Source, u.Name, auth.Fingerprint(k.Key), exp.UTC().Format(time.RFC3339), days(exp.Sub(now))))
			}
		}
	}
	return out
}

func days(d time.Duration) string {
	if n := int(d.Hours() / 24); n >= 1 {
		return fmt.Sprintf("%d days", n)
	}
	return d.Round(time.Minute).String()
}
