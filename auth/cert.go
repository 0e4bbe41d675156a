package auth

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// UserCAs are the certificate authorities trusted to sign user keys
// (trusted_user_ca_keys). A certificate logs in as the user named in its
// principals; the user must exist in the map, whose Tenant it gets.
type UserCAs struct {
	keys       [][]byte
	minRSABits int
}

// NewUserCAs trusts keys as user certificate authorities. The keys they
// certify are held to the rules of listed keys (CheckStrength with
// minRSABits, min_rsa_bits), so a certificate is no way around them.
func NewUserCAs(keys []ssh.PublicKey, minRSABits int) *UserCAs {
	ca := &UserCAs{minRSABits: minRSABits}
	for _, k := range keys {
		ca.keys = append(ca.keys, k.Marshal())
	}
	return ca
}

// Len is the number of trusted authorities; a nil *UserCAs has none.
func (ca *UserCAs) Len() int {
	if ca == nil {
		return 0
	}
	return len(ca.keys)
}

// Check verifies that cert may log in as user at now: a user certificate
// signed by a trusted authority, valid now, whose principals name user (a
// certificate without principals is refused, though x/crypto's CertChecker
// would take it for any user), and with no critical option but
// source-address, which must list addr (x/crypto's server checks it again
// from the Permissions of the certificate). The authority's signature must
// not be ssh-rsa (SHA-1, where a forged certificate costs a chosen-prefix
// collision), and the certified key must pass CheckStrength, like a listed
// key. The error wraps ErrRestricted with the reason, for the log only.
func (ca *UserCAs) Check(user string, cert *ssh.Certificate, addr netip.Addr, now time.Time) error {
	if ca.Len() == 0 {
		return fmt.Errorf("%w: certificates are not accepted (no trusted_user_ca_keys)", ErrRestricted)
	}
	if cert.CertType != ssh.UserCert {
		return fmt.Errorf("%w: not a user certificate", ErrRestricted)
	}
	if len(cert.ValidPrincipals) == 0 {
		return fmt.Errorf("%w: certificate %q has no principals", ErrRestricted, cert.KeyId)
	}
	if !slices.Contains(cert.ValidPrincipals, user) {
		return fmt.Errorf("%w: certificate %q does not name user %q among its principals", ErrRestricted, cert.KeyId, user)
	}
	if _, ok := cert.CriticalOptions["force-command"]; ok {
		return fmt.Errorf("%w: certificate %q has force-command, which the gateway cannot honour", ErrRestricted, cert.KeyId)
	}
	if src, ok := cert.CriticalOptions["source-address"]; ok && !sourceAllowed(src, addr) {
		return fmt.Errorf("%w: certificate %q: address %s not in its source-address %q", ErrRestricted, cert.KeyId, addr, src)
	}
	cc := ssh.CertChecker{
		IsUserAuthority: func(auth ssh.PublicKey) bool {
			blob := auth.Marshal()
			return slices.ContainsFunc(ca.keys, func(k []byte) bool { return bytes.Equal(k, blob) })
		},
		SupportedCriticalOptions: []string{"source-address"},
		Clock:                    func() time.Time { return now },
	}
	if !cc.IsUserAuthority(cert.SignatureKey) {
		return fmt.Errorf("%w: certificate %q signed by an untrusted authority %s", ErrRestricted, cert.KeyId, Fingerprint(cert.SignatureKey))
	}
	if cert.Signature == nil || !slices.Contains(caSignatureAlgos, cert.Signature.Format) {
		return fmt.Errorf("%w: certificate %q: the CA signed it with %s, which is not accepted (SHA-1 and DSA never are): sign with rsa-sha2-512 (ssh-keygen -t rsa-sha2-512) or an ed25519 CA", ErrRestricted, cert.KeyId, sigFormat(cert))
	}
	if err := CheckStrength(cert.Key, ca.minRSABits); err != nil {
		return fmt.Errorf("%w: certificate %q certifies a key refused by the key rules: %v", ErrRestricted, cert.KeyId, err)
	}
	if err := cc.CheckCert(user, cert); err != nil {
		var msg string
		if msg = err.Error(); errors.Unwrap(err) != nil {
			msg = errors.Unwrap(err).Error()
		}
		return fmt.Errorf("%w: certificate %q: %s", ErrRestricted, cert.KeyId, strings.TrimPrefix(msg, "ssh: "))
	}
	return nil
}

// caSignatureAlgos are the signatures accepted from a CA on a certificate:
// those accepted from users, but never ssh-rsa (SHA-1).
var caSignatureAlgos = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

func sigFormat(cert *ssh.Certificate) string {
	if cert.Signature == nil {
		return "no signature"
	}
	return cert.Signature.Format
}

// sourceAllowed reports whether addr is in a source-address list of CIDRs
// and addresses; a malformed list allows nothing.
func sourceAllowed(list string, addr netip.Addr) bool {
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if a, err := netip.ParseAddr(s); err == nil {
			if a.Unmap() == addr {
				return true
			}
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}
