package sftpd

import (
	"errors"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
)

// Algorithm lists, explicit so that library defaults never bring back SHA-1
// key exchange or MACs, ssh-rsa (SHA-1) signatures, or CBC ciphers. Ciphers
// are AES only: Go's AES uses the CPU's AES instructions, while its
// ChaCha20-Poly1305 has no amd64 assembly and cost a third of the gateway's
// CPU in bench/; every supported client speaks AES-GCM or AES-CTR, and AES is
// the FIPS-approved choice regulated partners ask for.
var (
	kexAlgos = []string{
		ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519,
		ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384,
		ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeDH14SHA256,
	}
	cipherAlgos = []string{
		ssh.CipherAES128GCM, ssh.CipherAES256GCM,
		ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR,
	}
	macAlgos = []string{
		ssh.HMACSHA256ETM, ssh.HMACSHA512ETM, ssh.HMACSHA256, ssh.HMACSHA512,
	}
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
	cfg := &ssh.ServerConfig{
		Config:                    ssh.Config{KeyExchanges: kexAlgos, Ciphers: cipherAlgos, MACs: macAlgos},
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
			if err := s.Users.Permit(meta.User(), key, addrOf(meta.RemoteAddr()), time.Now()); err != nil {
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
		s.def = newDefender(*s.Defender, s.Logger, s.Audit, time.Now)
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
