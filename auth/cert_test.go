package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestUserCAs_Check(t *testing.T) {
	_, caPriv, _ := ed25519.GenerateKey(rand.Reader)
	ca, _ := ssh.NewSignerFromKey(caPriv)
	_, roguePriv, _ := ed25519.GenerateKey(rand.Reader)
	rogue, _ := ssh.NewSignerFromKey(roguePriv)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	mk := func(signer ssh.Signer, edit func(*ssh.Certificate)) *ssh.Certificate {
		c := &ssh.Certificate{Key: newKey(t), CertType: ssh.UserCert, KeyId: "id", ValidPrincipals: []string{"acme"},
			ValidAfter: uint64(now.Add(-time.Hour).Unix()), ValidBefore: uint64(now.Add(time.Hour).Unix())}
		if edit != nil {
			edit(c)
		}
		if err := c.SignCert(rand.Reader, signer); err != nil {
			t.Fatal(err)
		}
		return c
	}
	rsaCAKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCA, _ := ssh.NewSignerFromKey(rsaCAKey)
	rsaCASHA1, _ := ssh.NewSignerWithAlgorithms(rsaCA.(ssh.AlgorithmSigner), []string{ssh.KeyAlgoRSA})
	rsaCASHA512, _ := ssh.NewSignerWithAlgorithms(rsaCA.(ssh.AlgorithmSigner), []string{ssh.KeyAlgoRSASHA512})
	rsaKey := func(bits int) ssh.PublicKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := ssh.NewPublicKey(&k.PublicKey)
		return pub
	}
	rsa1024, rsa2048, rsa3072 := rsaKey(1024), rsaKey(2048), rsaKey(3072)
	cas := NewUserCAs([]ssh.PublicKey{ca.PublicKey(), rsaCA.PublicKey()}, 3072)
	addr := netip.MustParseAddr("192.0.2.7")
	for _, tt := range []struct {
		name string
		cert *ssh.Certificate
		user string
		want string
	}{
		{"valid", mk(ca, nil), "acme", ""},
		{"other-user", mk(ca, nil), "bob", `does not name user "bob"`},
		{"no-principals", mk(ca, func(c *ssh.Certificate) { c.ValidPrincipals = nil }), "acme", "has no principals"},
		{"expired", mk(ca, func(c *ssh.Certificate) { c.ValidBefore = uint64(now.Unix()) }), "acme", "expired"},
		{"host-cert", mk(ca, func(c *ssh.Certificate) { c.CertType = ssh.HostCert }), "acme", "not a user certificate"},
		{"rogue-ca", mk(rogue, nil), "acme", "untrusted authority"},
		{"force-command", mk(ca, func(c *ssh.Certificate) { c.CriticalOptions = map[string]string{"force-command": "x"} }), "acme", "force-command"},
		{"unknown-option", mk(ca, func(c *ssh.Certificate) { c.CriticalOptions = map[string]string{"verify-required": ""} }), "acme", "unsupported critical option"},
		{"source-ok", mk(ca, func(c *ssh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8,192.0.2.7"}
		}), "acme", ""},
		{"source-other", mk(ca, func(c *ssh.Certificate) { c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8"} }), "acme", "not in its source-address"},
		{"rsa-ca-sha512", mk(rsaCASHA512, nil), "acme", ""},
		{"rsa-ca-sha1", mk(rsaCASHA1, nil), "acme", "the CA signed it with ssh-rsa, which is not accepted"},
		{"rsa-1024-key", mk(ca, func(c *ssh.Certificate) { c.Key = rsa1024 }), "acme", "RSA key has 1024 bits: at least 3072 are required"},
		{"rsa-under-min-rsa-bits", mk(ca, func(c *ssh.Certificate) { c.Key = rsa2048 }), "acme", "RSA key has 2048 bits: at least 3072 are required"},
		{"rsa-3072-key", mk(ca, func(c *ssh.Certificate) { c.Key = rsa3072 }), "acme", ""},
	} {
		err := cas.Check(tt.user, tt.cert, addr, now)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Check = %v; want %q", tt.name, err, tt.want)
		}
	}
	if err := (*UserCAs)(nil).Check("acme", mk(ca, nil), addr, now); err == nil {
		t.Errorf("Check without CAs = nil; want refused")
	}
}
