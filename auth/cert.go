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
	keys [][]byte
}

// NewUserCAs trusts keys as user certificate authorities.
func NewUserCAs(keys []ssh.PublicKey) *UserCAs {
	ca := &UserCAs{}
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
// from the Permissions of the certificate). The error wraps ErrRestricted
// with the reason, for the log only.
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
	if err := cc.CheckCert(user, cert); err != nil {
		var msg string
		if msg = err.Error(); errors.Unwrap(err) != nil {
			msg = errors.Unwrap(err).Error()
		}
		return fmt.Errorf("%w: certificate %q: %s", ErrRestricted, cert.KeyId, msg)
	}
	return nil
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
