package sftpd

import (
	"errors"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/defender"
)

// User key and host key signature algorithms: no ssh-rsa (SHA-1) for host
// keys; for user keys only for users with legacy_rsa_sha1. Key exchange,
// ciphers and MACs follow the crypto policy (crypto.go).
var (
	userKeyAlgos = []string{
		ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
		// Certificates (trusted_user_ca_keys) are accepted by the
		// algorithm of the key they certify: x/crypto lists no *-cert-v01.
		// Last, and only for users with legacy_rsa_sha1: the signature
		// algorithm is checked per user once verified (legacySignature).
		ssh.KeyAlgoRSA,
	}
	rsaHostAlgos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
)

// tenantKey is the Permissions.ExtraData key of the Tenant. The tenant is read
// only from the Permissions of the key that actually signed (CVE-2024-45337).
type tenantKey struct{}

// errAuth is the only answer a failed login gets.
var errAuth = errors.New("authentication failed")

// errSHA1Signature refuses an ssh-rsa (SHA-1) signature of a user without
// legacy_rsa_sha1; the client only hears that authentication failed.
var errSHA1Signature = errors.New("ssh-rsa (SHA-1) signature refused: the user does not set legacy_rsa_sha1")

func (s *Server) init() {
	algos, _ := policy(s.Crypto) // Serve refuses an unknown name first
	cfg := &ssh.ServerConfig{
		Config:                    ssh.Config{KeyExchanges: algos.kex, Ciphers: algos.ciphers, MACs: algos.macs},
		PublicKeyAuthAlgorithms:   userKeyAlgos,
		MaxAuthTries:              s.MaxAuthTries,
		ServerVersion:             "SSH-2.0-s3sftpd",
		VerifiedPublicKeyCallback: s.verifiedKey,
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if cert, ok := key.(*ssh.Certificate); ok {
				return s.certLogin(meta, cert)
			}
			t, err := s.Users.Lookup(meta.User(), key)
			if err != nil {
				return nil, errAuth
			}
			if t.Methods&auth.MethodPublicKey == 0 {
				return nil, errMethodNotFirst
			}
			if err := s.Users.Permit(meta.User(), key, addrOf(meta.RemoteAddr()), s.now()); err != nil {
				return nil, err // logged and audited with its reason by authAttempt
			}
			return &ssh.Permissions{
				Extensions: map[string]string{"pubkey-fp": auth.Fingerprint(key)},
				ExtraData:  map[any]any{tenantKey{}: t},
			}, nil
		},
	}
	for _, k := range s.HostKeys {
		if k.PublicKey().Type() == ssh.KeyAlgoRSA {
			if as, ok := k.(ssh.AlgorithmSigner); ok {
				if mk, err := ssh.NewSignerWithAlgorithms(as, rsaHostAlgos); err == nil {
					k = mk
				}
			}
		}
		cfg.AddHostKey(k)
	}
	if s.PasswordAuth {
		cfg.PasswordCallback = s.passwordLogin
	}
	s.config = cfg
	if s.Defender != nil {
		s.def = defender.New(*s.Defender, s.Logger, s.Audit, time.Now)
	}
}

// tenantOf returns the tenant stored by the callback that accepted the login.
func tenantOf(p *ssh.Permissions) *auth.Tenant {
	if p == nil {
		return nil
	}
	t, _ := p.ExtraData[tenantKey{}].(*auth.Tenant)
	return t
}
