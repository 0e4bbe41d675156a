package sftpd

import (
	"errors"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
)

// Password logins. A user's auth list decides: ["password"] logs in with
// the password alone; ["publickey", "password"] needs the key first, then
// the password (SSH partial success), so a stolen key or a guessed password
// alone gets nothing. Every failed password costs the same hashing work and
// the same padded delay, whether the user exists or not.

// passwordFailDelay is the least time a failed password attempt takes.
const passwordFailDelay = 500 * time.Millisecond

var (
	errPasswordAlone  = errors.New("password alone is not enough: the user needs publickey first")
	errMethodNotFirst = errors.New("publickey is not an authentication method of the user")
)

// passwordLogin is the PasswordCallback: users whose only method is password.
func (s *Server) passwordLogin(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	start := time.Now()
	t, err := s.Users.CheckPassword(meta.User(), string(pw))
	switch {
	case err != nil:
		err = errAuth
	case t.Methods != auth.MethodPassword:
		err = errPasswordAlone
	default:
		err = s.Users.Permit(meta.User(), nil, addrOf(meta.RemoteAddr()), s.now())
	}
	if err != nil {
		time.Sleep(passwordFailDelay - time.Since(start))
		return nil, err
	}
	return &ssh.Permissions{Extensions: map[string]string{"auth": "password"}, ExtraData: map[any]any{tenantKey{}: t}}, nil
}

// secondFactor asks for the password of the user whose key was verified;
// p are that key's permissions, kept when the password is right.
func (s *Server) secondFactor(p *ssh.Permissions) error {
	t := tenantOf(p)
	return &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{
		PasswordCallback: func(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			start := time.Now()
			now, err := s.Users.CheckPassword(t.User, string(pw))
			if err != nil || meta.User() != t.User || !now.SameReach(t) || now.Limits != t.Limits {
				time.Sleep(passwordFailDelay - time.Since(start))
				return nil, errAuth
			}
			return p, nil
		},
	}}
}

// verifiedKey is the VerifiedPublicKeyCallback: it refuses SHA-1
// signatures unless the user allows them, and asks for the password next
// when the user needs both.
func (s *Server) verifiedKey(_ ssh.ConnMetadata, _ ssh.PublicKey, p *ssh.Permissions, algo string) (*ssh.Permissions, error) {
	t := tenantOf(p)
	if algo == ssh.KeyAlgoRSA && !t.LegacyRSASHA1 {
		return nil, errSHA1Signature
	}
	if t.Methods&auth.MethodPassword != 0 {
		return nil, s.secondFactor(p)
	}
	return p, nil
}
