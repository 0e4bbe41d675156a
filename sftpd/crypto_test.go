package sftpd_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/sftpd"
)

// TestCrypto_SSHAudit grades the modern policy with Debian's ssh-audit: no
// failure and no warning but for algorithms newer than ssh-audit itself.
func TestCrypto_SSHAudit(t *testing.T) {
	bin, err := exec.LookPath("ssh-audit")
	if err != nil {
		if os.Getenv("S3SFTPD_NO_SSH_AUDIT") != "" {
			t.Skip("S3SFTPD_NO_SSH_AUDIT set")
		}
		t.Fatalf("ssh-audit not found: apt-get install ssh-audit (scripts/test does as root)")
	}
	audit := func(policy string) []string {
		ts := startServer(t, func(s *sftpd.Server) { s.Crypto = policy })
		host, port, _ := strings.Cut(ts.addr, ":")
		text, _ := exec.Command(bin, "-n", "-p", port, host).CombinedOutput()
		if !strings.Contains(string(text), "(kex) curve25519-sha256") {
			t.Fatalf("ssh-audit did not grade the server:\n%s", text)
		}
		var bad []string
		for _, line := range strings.Split(string(text), "\n") {
			if l := strings.ToLower(line); (strings.Contains(l, "[fail]") || strings.Contains(l, "[warn]")) &&
				!strings.Contains(l, "unknown algorithm") {
				bad = append(bad, strings.TrimSpace(line))
			}
		}
		return bad
	}
	if bad := audit(sftpd.CryptoModern); len(bad) > 0 {
		t.Errorf("ssh-audit found %d problems with the modern policy:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	// The check can fail: ssh-audit 2.5 fails the NIST curves compatible offers.
	if bad := audit(sftpd.CryptoCompatible); !strings.Contains(strings.Join(bad, "\n"), "ecdh-sha2-nistp256") {
		t.Errorf("ssh-audit problems with the compatible policy: %q; want the NIST curves failed", bad)
	}
}

// TestCrypto_Policies: each policy offers only its lists; a client limited
// to an algorithm outside them cannot connect.
func TestCrypto_Policies(t *testing.T) {
	k := keys(t)
	for _, tt := range []struct {
		policy string
		kex    string
		cipher string
		ok     bool
	}{
		{sftpd.CryptoModern, ssh.KeyExchangeCurve25519, ssh.CipherAES128GCM, true},
		{sftpd.CryptoModern, ssh.KeyExchangeECDHP256, ssh.CipherAES128GCM, false},
		{sftpd.CryptoModern, ssh.KeyExchangeCurve25519, ssh.CipherAES128CTR, false},
		{sftpd.CryptoCompatible, ssh.KeyExchangeECDHP256, ssh.CipherAES128CTR, true},
		{sftpd.CryptoCompatible, ssh.KeyExchangeDH14SHA256, ssh.CipherAES256CTR, true},
		{sftpd.CryptoFIPS, ssh.KeyExchangeECDHP384, ssh.CipherAES256GCM, true},
		{sftpd.CryptoFIPS, ssh.KeyExchangeCurve25519, ssh.CipherAES256GCM, false},
		{sftpd.CryptoFIPS, ssh.KeyExchangeMLKEM768X25519, ssh.CipherAES256GCM, false},
	} {
		t.Run(tt.policy+"-"+tt.kex+"-"+tt.cipher, func(t *testing.T) {
			ts := startServer(t, func(s *sftpd.Server) { s.Crypto = tt.policy })
			cfg := clientConfig(t, "ed", ssh.PublicKeys(k.ed25519))
			cfg.KeyExchanges, cfg.Ciphers = []string{tt.kex}, []string{tt.cipher}
			cfg.Timeout = 5 * time.Second
			sc, err := ssh.Dial("tcp", ts.addr, cfg)
			if err == nil {
				sc.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("dial with %s/%s under %s: err = %v; want ok = %v", tt.kex, tt.cipher, tt.policy, err, tt.ok)
			}
		})
	}
}
