package config

import (
	"slices"

	"github.com/s3sftpd/s3sftpd/auth"
)

// authMethods checks the auth list and password_hash of the user at path
// and fills u.Methods and u.Password.
func (l *loader) authMethods(u *User, path string) {
	u.Methods, u.Password = 0, nil // 0: the default, publickey
	if u.Auth != nil {
		m, err := auth.ParseMethods(u.Auth)
		switch {
		case l.failed[path+".auth"]:
		case err != nil:
			l.errf(path+".auth", `%v: use ["publickey"], ["password"] or ["publickey", "password"] (both required)`, err)
		case len(u.Auth) != len(slices.Compact(slices.Sorted(slices.Values(u.Auth)))):
			l.errf(path+".auth", "lists a method twice")
		default:
			u.Methods = m
		}
	}
	if u.PasswordHash != "" {
		h, err := auth.ParsePasswordHash(u.PasswordHash)
		if err != nil {
			l.errf(path+".password_hash", "%v", err) // never echo the value: it may be a password
			return
		}
		u.Password = &h
		if u.Methods&auth.MethodPassword == 0 {
			l.errf(path+".password_hash", `is set but auth does not include "password"`)
		}
		return
	}
	if u.Methods&auth.MethodPassword != 0 && !l.failed[path+".password_hash"] {
		l.errf(path+".auth", "includes \"password\" but password_hash is not set: make one with `s3sftpd hash-password`")
	}
}

// usesKeys reports whether the user logs in with a key.
func usesKeys(u *User) bool { return u.Methods == 0 || u.Methods&auth.MethodPublicKey != 0 }
