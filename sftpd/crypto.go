package sftpd

import (
	"fmt"

	"golang.org/x/crypto/ssh"
)

// Crypto policies: the key exchange, cipher and MAC lists the server offers.
// None offers SHA-1 anywhere, CBC ciphers or ChaCha20-Poly1305 (Go runs
// ChaCha20 in plain code, at a third of the gateway's CPU in bench/, and a
// client that lists it first would pick it over AES-GCM).
const (
	// CryptoModern: post-quantum hybrid and curve25519 key exchange,
	// AES-GCM, encrypt-then-MAC. No NIST curves, no finite-field DH and
	// no AES-CTR: what ssh-audit grades without a failure or a warning.
	// OpenSSH 8.5+, PuTTY 0.76+, WinSCP 5.19+ and paramiko 2.7+ connect.
	CryptoModern = "modern"
	// CryptoCompatible (the default) adds the NIST curve ECDH, DH groups
	// 16 and 14 with SHA-2, AES-CTR and plain SHA-2 MACs: what libssh2
	// 1.10 (curl on Debian 12) and older PuTTY and WinSCP need.
	CryptoCompatible = "compatible"
	// CryptoFIPS: only FIPS 140-3 approved algorithms: ECDH on P-256 and
	// P-384, DH groups 16 and 14 with SHA-2, AES-GCM and AES-CTR, HMAC
	// SHA-2. (X25519 is not approved for key agreement; run with
	// GODEBUG=fips140=on to use Go's validated module.)
	CryptoFIPS = "fips"
)

// algorithms are the lists of one policy.
type algorithms struct {
	kex, ciphers, macs []string
}

var policies = map[string]algorithms{
	CryptoModern: {
		kex:     []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519},
		ciphers: []string{ssh.CipherAES256GCM, ssh.CipherAES128GCM},
		macs:    []string{ssh.HMACSHA512ETM, ssh.HMACSHA256ETM},
	},
	CryptoCompatible: {
		kex: []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519,
			ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384,
			ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeDH14SHA256},
		ciphers: []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM,
			ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR},
		macs: []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM, ssh.HMACSHA256, ssh.HMACSHA512},
	},
	CryptoFIPS: {
		kex: []string{ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384,
			ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeDH14SHA256},
		ciphers: []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM,
			ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR},
		macs: []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM, ssh.HMACSHA256, ssh.HMACSHA512},
	},
}

// policy returns the lists of a policy name; "" is CryptoCompatible.
func policy(name string) (algorithms, error) {
	if name == "" {
		name = CryptoCompatible
	}
	a, ok := policies[name]
	if !ok {
		return algorithms{}, fmt.Errorf("unknown crypto policy %q", name)
	}
	return a, nil
}
