package sftpd

import (
	"maps"
	"strconv"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
)

// certLogin checks a user certificate: trusted authority, the user among its
// principals, validity window, source-address, no force-command; then the
// user's own rules (publickey allowed, allow_from). The login gets the
// user's Tenant.
func (s *Server) certLogin(meta ssh.ConnMetadata, cert *ssh.Certificate) (*ssh.Permissions, error) {
	addr, now := addrOf(meta.RemoteAddr()), s.now()
	if err := s.UserCAs.Check(meta.User(), cert, addr, now); err != nil {
		return nil, err
	}
	t, err := s.Users.Tenant(meta.User())
	if err != nil {
		return nil, errAuth
	}
	if t.Methods&auth.MethodPublicKey == 0 {
		return nil, errMethodNotFirst
	}
	if err := s.Users.Permit(meta.User(), nil, addr, now); err != nil {
		return nil, err
	}
	return &ssh.Permissions{
		CriticalOptions: maps.Clone(cert.CriticalOptions), // x/crypto enforces source-address from here too
		Extensions: map[string]string{"pubkey-fp": auth.Fingerprint(cert.Key), "cert-id": cert.KeyId,
			"cert-serial": strconv.FormatUint(cert.Serial, 10)},
		ExtraData: map[any]any{tenantKey{}: t},
	}, nil
}
