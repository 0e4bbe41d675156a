package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// TestE2E_DefenderBan: OpenSSH sftp failing from 127.0.0.2 gets that address
// banned (closed before the handshake, even with the right key), while the
// same user still logs in from 127.0.0.1; the ban is in the audit trail.
func TestE2E_DefenderBan(t *testing.T) {
	g := startGateway(t, nil, gatewayOpts{endpoint: "embedded",
		extra: "[defender]\nip_failures = 3\nban_time = \"1m\"\n"})
	dir := t.TempDir()
	from := func(src, key string) (string, error) {
		return g.sftp(t, dir, "acme", key, "ls\n", "-o", "BindAddress="+src)
	}
	for i := range 3 {
		if out, err := from("127.0.0.2", clientKeys["other"]); err == nil {
			t.Fatalf("attempt %d with a key acme does not have succeeded:\n%s", i+1, out)
		}
	}
	waitFor(t, 5*time.Second, "the ban", func() bool { return strings.Contains(g.logs.String(), "address banned") })
	out, err := from("127.0.0.2", clientKeys["ed25519"])
	if err == nil {
		t.Fatalf("banned address logged in with the right key:\n%s", out)
	}
	if !strings.Contains(out, "Connection closed") && !strings.Contains(out, "kex_exchange_identification") {
		t.Errorf("banned client saw %q; want the connection closed before the key exchange", out)
	}
	if out, err := from("127.0.0.1", clientKeys["ed25519"]); err != nil {
		t.Fatalf("acme from another address refused during the ban: %v\n%s", err, out)
	}
	bans := find(readTrail(t, g.auditFile()), func(r audit.Record) bool { return r.Event == audit.EventBan })
	if len(bans) != 1 || bans[0].Remote != "127.0.0.2" || !strings.Contains(bans[0].Reason, "3 failed logins") {
		t.Errorf("ban records %+v; want one for 127.0.0.2 after 3 failed logins", bans)
	}
}

// TestE2E_WhereAndWhen: allow_from, a key's from= (with a negation) and
// expiry-time= hold for OpenSSH sftp; check-config warns of expiring keys.
func TestE2E_WhereAndWhen(t *testing.T) {
	soon := time.Now().Add(5*24*time.Hour).UTC().Format("20060102150405") + "Z"
	users := []testUser{
		{name: "office", home: "office/", keys: []string{pubKey(t, "ed25519")}, extra: "allow_from = [\"127.0.0.3/32\"]\n"},
		{name: "fromkey", home: "fromkey/", keys: []string{`from="127.0.0.0/24,!127.0.0.5" ` + pubKey(t, "ecdsa")}},
		{name: "expired", home: "expired/", keys: []string{`expiry-time="20200101" ` + pubKey(t, "rsa")}},
		{name: "soon", home: "soon/", keys: []string{`expiry-time="` + soon + `" ` + pubKey(t, "other")}},
	}
	g := startGateway(t, nil, gatewayOpts{endpoint: "embedded", users: users})
	dir := t.TempDir()
	for _, tt := range []struct {
		user, key, src string
		ok             bool
	}{
		{"office", "ed25519", "127.0.0.3", true},
		{"office", "ed25519", "127.0.0.2", false},
		{"fromkey", "ecdsa", "127.0.0.4", true},
		{"fromkey", "ecdsa", "127.0.0.5", false},
		{"fromkey", "ecdsa", "127.0.1.4", false},
		{"expired", "rsa", "127.0.0.1", false},
		{"soon", "other", "127.0.0.1", true},
	} {
		out, err := g.sftp(t, dir, tt.user, clientKeys[tt.key], "ls\n", "-o", "BindAddress="+tt.src)
		if (err == nil) != tt.ok {
			t.Errorf("%s from %s: sftp err = %v; want ok = %v\n%s", tt.user, tt.src, err, tt.ok, out)
		}
	}
	waitFor(t, 5*time.Second, "the refusals logged", func() bool { return strings.Contains(g.logs.String(), "key expired at 2020-01-01") })
	logs := g.logs.String()
	for _, want := range []string{"key expired at 2020-01-01", "not in the user's allow_from", `not allowed by the key's from=`} {
		if !strings.Contains(logs, want) {
			t.Errorf("gateway log lacks %q", want)
		}
	}
	out, err := exec.Command(binary, "check-config", "-config", g.config).CombinedOutput()
	if err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	for _, want := range []string{"warning: user soon: key SHA256:", "expires at", "(in 4 days)", "warning: user expired: key", "expired at 2020-01-01"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out)
		}
	}
}

// TestE2E_KeyStrength: ssh-rsa (SHA-1) signatures work only for a user with
// legacy_rsa_sha1; an RSA key under 3072 bits is a check-config warning and
// one under min_rsa_bits an error.
func TestE2E_KeyStrength(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "id_rsa2048")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", small).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(small + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	users := []testUser{
		{name: "modern", home: "modern/", keys: []string{pubKey(t, "rsa")}},
		{name: "oldclient", home: "oldclient/", keys: []string{pubKey(t, "rsa")}, extra: "legacy_rsa_sha1 = true\n"},
		{name: "small", home: "small/", keys: []string{strings.TrimSpace(string(pub))}},
	}
	g := startGateway(t, nil, gatewayOpts{endpoint: "embedded", users: users})
	sha1 := []string{"-o", "PubkeyAcceptedAlgorithms=ssh-rsa"}
	if out, err := g.sftp(t, dir, "oldclient", clientKeys["rsa"], "ls\n", sha1...); err != nil {
		t.Errorf("ssh-rsa signature of a legacy_rsa_sha1 user refused: %v\n%s", err, out)
	}
	if out, err := g.sftp(t, dir, "modern", clientKeys["rsa"], "ls\n", sha1...); err == nil {
		t.Errorf("ssh-rsa signature accepted without legacy_rsa_sha1:\n%s", out)
	}
	waitFor(t, 5*time.Second, "the refused SHA-1 signature logged", func() bool {
		return strings.Contains(g.logs.String(), "ssh-rsa (SHA-1) signature refused")
	})
	if out, err := g.sftp(t, dir, "modern", clientKeys["rsa"], "ls\n"); err != nil {
		t.Errorf("rsa-sha2 signature refused: %v\n%s", err, out)
	}
	if out, err := g.sftp(t, dir, "small", small, "ls\n"); err != nil {
		t.Errorf("2048-bit RSA key refused at the default minimum: %v\n%s", err, out)
	}
	out, _ := exec.Command(binary, "check-config", "-config", g.config).CombinedOutput()
	if !strings.Contains(string(out), "warning: user small: RSA key SHA256:") || !strings.Contains(string(out), "has 2048 bits") {
		t.Errorf("check-config does not warn of the 2048-bit key:\n%s", out)
	}
	text, _ := os.ReadFile(g.config)
	os.WriteFile(g.config, []byte(strings.Replace(string(text), "[server]\n", "[server]\nmin_rsa_bits = 3072\n", 1)), 0o600)
	out, err = exec.Command(binary, "check-config", "-config", g.config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "RSA key has 2048 bits: at least 3072 are required") {
		t.Errorf("check-config with min_rsa_bits = 3072: err = %v; want the 2048-bit key refused:\n%s", err, out)
	}
}

// askpassSFTP runs OpenSSH sftp that answers password prompts from
// SSH_ASKPASS with pw; key may be "" for a password alone.
func (g *gateway) askpassSFTP(t *testing.T, user, key, pw string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	askpass := filepath.Join(dir, "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\ncat \"$(dirname \"$0\")/pw\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "NumberOfPasswordPrompts=1", "-o", "IdentitiesOnly=yes", "-P", g.port,
		"-o", "BatchMode=no", "-b", "-"} // sftp -b turns BatchMode on after the options before it
	if key != "" {
		args = append(args, "-i", key)
	} else {
		args = append(args, "-o", "PubkeyAuthentication=no")
	}
	cmd := exec.Command("sftp", append(args, user+"@127.0.0.1")...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("ls\n")
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestE2E_Passwords: a password-only user, and a user who needs key and
// password (partial success), with OpenSSH answering through SSH_ASKPASS.
// Wrong passwords and unknown users fail alike; the password is never logged.
func TestE2E_Passwords(t *testing.T) {
	const pw, wrong = "correct horse battery staple", "Tr0ub4dor&3 never logged"
	cmd := exec.Command(binary, "hash-password")
	cmd.Stdin = strings.NewReader(pw + "\n")
	hash, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(hash), "$argon2id$v=19$") {
		t.Fatalf("hash-password = %q, %v; want an argon2id PHC string", hash, err)
	}
	h := strings.TrimSpace(string(hash))
	users := []testUser{
		{name: "pwonly", home: "pwonly/", extra: "auth = [\"password\"]\npassword_hash = \"" + h + "\"\n"},
		{name: "both", home: "both/", keys: []string{pubKey(t, "ed25519")}, extra: "auth = [\"publickey\", \"password\"]\npassword_hash = \"" + h + "\"\n"},
		{name: "keyonly", home: "keyonly/", keys: []string{pubKey(t, "ecdsa")}},
	}
	g := startGateway(t, nil, gatewayOpts{endpoint: "embedded", users: users})
	for _, tt := range []struct {
		name, user, key, pw string
		ok                  bool
	}{
		{"password-only", "pwonly", "", pw, true},
		{"password-only-wrong", "pwonly", "", wrong, false},
		{"unknown-user", "nobody", "", wrong, false},
		{"key-only-user-by-password", "keyonly", "", pw, false},
		{"both", "both", clientKeys["ed25519"], pw, true},
		{"both-wrong-password", "both", clientKeys["ed25519"], wrong, false},
		{"both-password-alone", "both", "", pw, false},
		{"both-wrong-key", "both", clientKeys["other"], pw, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := g.askpassSFTP(t, tt.user, tt.key, tt.pw)
			if (err == nil) != tt.ok {
				t.Errorf("sftp as %s: err = %v; want ok = %v\n%s", tt.user, err, tt.ok, out)
			}
		})
	}
	waitFor(t, 5*time.Second, "the refusals logged", func() bool { return strings.Contains(g.logs.String(), "password alone is not enough") })
	logs := g.logs.String()
	if strings.Contains(logs, wrong) || strings.Contains(logs, pw) {
		t.Errorf("a password reached the log")
	}
	for _, want := range []string{`"user":"nobody","method":"password","reason":"unknown user or wrong password"`,
		`"user":"pwonly","method":"password","reason":"unknown user or wrong password"`,
		`"reason":"password alone is not enough: the user needs publickey first"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	trail, _ := os.ReadFile(g.auditFile())
	if strings.Contains(string(trail), wrong) || strings.Contains(string(trail), pw) {
		t.Errorf("a password reached the audit trail")
	}
}

// TestE2E_Certificates: user certificates made with ssh-keygen -s log in as
// the user among their principals, within their validity, from their
// source-address, and the login record names the certificate; no
// principals, another principal, an expired certificate, force-command, an
// untrusted CA, a CA signature in SHA-1 and a certified 1024-bit RSA key are
// refused.
func TestE2E_Certificates(t *testing.T) {
	dir := t.TempDir()
	keygen := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ssh-keygen", append([]string{"-q"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
		}
	}
	ca, rogue, rsaCA := filepath.Join(dir, "ca"), filepath.Join(dir, "rogue"), filepath.Join(dir, "rsa-ca")
	keygen("-t", "ed25519", "-N", "", "-f", ca)
	keygen("-t", "ed25519", "-N", "", "-f", rogue)
	keygen("-t", "rsa", "-b", "3072", "-N", "", "-f", rsaCA)
	cas := filepath.Join(dir, "cas.pub")
	var both []byte
	for _, k := range []string{ca, rsaCA} {
		b, _ := os.ReadFile(k + ".pub")
		both = append(both, b...)
	}
	os.WriteFile(cas, both, 0o600)
	users := []testUser{{name: "acme", home: "partners/acme/", keys: []string{pubKey(t, "other")}}, {name: "bob", home: "bob/", keys: []string{pubKey(t, "other")}}}
	g := startGateway(t, nil, gatewayOpts{endpoint: "embedded", users: users,
		server: "trusted_user_ca_keys = \"" + cas + "\"\n"})
	// cert makes a fresh key and its certificate with the ssh-keygen -s
	// options given; OpenSSH picks up KEY-cert.pub itself. keyType is
	// ssh-keygen's -t and -b for the user key: ed25519 unless given.
	n := 0
	certOf := func(keyType []string, signer string, opts ...string) string {
		n++
		key := filepath.Join(dir, fmt.Sprintf("user%d", n))
		keygen(append(keyType, "-N", "", "-f", key)...)
		keygen(append(append([]string{"-s", signer, "-I", fmt.Sprintf("cert-%d", n)}, opts...), key+".pub")...)
		return key
	}
	cert := func(signer string, opts ...string) string { return certOf([]string{"-t", "ed25519"}, signer, opts...) }
	for _, tt := range []struct {
		name, user, src string
		key             string
		ok              bool
		reason          string
	}{
		{"valid", "acme", "127.0.0.1", cert(ca, "-n", "acme,ops", "-V", "-5m:+1h", "-z", "4711"), true, ""},
		{"rsa-ca-sha512", "acme", "127.0.0.1", cert(rsaCA, "-n", "acme", "-t", "rsa-sha2-512"), true, ""},
		{"rsa-ca-sha1", "acme", "127.0.0.3", cert(rsaCA, "-n", "acme", "-t", "ssh-rsa"), false, "the CA signed it with ssh-rsa, which is not accepted"},
		{"rsa-1024-key", "acme", "127.0.0.3", certOf([]string{"-t", "rsa", "-b", "1024"}, ca, "-n", "acme"), false,
			"certifies a key refused by the key rules: RSA key has 1024 bits: at least 2048 are required"},
		{"other-principal", "bob", "127.0.0.1", cert(ca, "-n", "acme"), false, `does not name user \"bob\"`},
		{"no-principals", "acme", "127.0.0.1", cert(ca), false, "has no principals"},
		{"expired", "acme", "127.0.0.1", cert(ca, "-n", "acme", "-V", "-2h:-1h"), false, "cert has expired"},
		{"not-yet-valid", "acme", "127.0.0.1", cert(ca, "-n", "acme", "-V", "+1h:+2h"), false, "cert is not yet valid"},
		{"source-address-match", "acme", "127.0.0.2", cert(ca, "-n", "acme", "-O", "source-address=127.0.0.2/32"), true, ""},
		{"source-address-other", "acme", "127.0.0.1", cert(ca, "-n", "acme", "-O", "source-address=127.0.0.2/32"), false, "not in its source-address"},
		{"force-command", "acme", "127.0.0.1", cert(ca, "-n", "acme", "-O", "force-command=/bin/true"), false, "has force-command"},
		{"untrusted-ca", "acme", "127.0.0.1", cert(rogue, "-n", "acme"), false, "untrusted authority"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := g.sftp(t, dir, tt.user, tt.key, "ls\n", "-o", "BindAddress="+tt.src)
			if (err == nil) != tt.ok {
				t.Errorf("sftp as %s with the certificate: err = %v; want ok = %v\n%s", tt.user, err, tt.ok, out)
			}
			if tt.reason != "" {
				waitFor(t, 5*time.Second, "log line "+tt.reason, func() bool { return strings.Contains(g.logs.String(), tt.reason) })
			}
		})
	}
	logins := find(readTrail(t, g.auditFile()), func(r audit.Record) bool {
		return r.Event == audit.EventAuth && r.Result == audit.ResultOK && r.CertID == "cert-1"
	})
	if len(logins) != 1 || logins[0].CertSerial == nil || *logins[0].CertSerial != 4711 || !strings.HasSuffix(logins[0].KeyType, "-cert-v01@openssh.com") {
		t.Errorf("login records of certificate cert-1: %+v; want one with cert_id cert-1, cert_serial 4711 and a certificate key type", logins)
	}
	if !strings.Contains(g.logs.String(), `"cert_id":"cert-1","cert_serial":"4711"`) {
		t.Errorf("the login log line does not name the certificate")
	}
}

// TestE2E_CryptoModern: with crypto = "modern", OpenSSH connects by default
// and is refused when it insists on a NIST curve or AES-CTR.
func TestE2E_CryptoModern(t *testing.T) {
	g := startGateway(t, nil, gatewayOpts{endpoint: "embedded", server: "crypto = \"modern\"\n"})
	dir := t.TempDir()
	if out, err := g.sftp(t, dir, "acme", clientKeys["ed25519"], "ls\n"); err != nil {
		t.Fatalf("OpenSSH with its defaults refused under modern: %v\n%s", err, out)
	}
	for _, opt := range []string{"KexAlgorithms=ecdh-sha2-nistp256", "Ciphers=aes128-ctr", "KexAlgorithms=diffie-hellman-group14-sha256"} {
		if out, err := g.sftp(t, dir, "acme", clientKeys["ed25519"], "ls\n", "-o", opt); err == nil {
			t.Errorf("OpenSSH with %s connected under modern:\n%s", opt, out)
		}
	}
}
