package pgp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// gpg is Debian's GnuPG with a home of its own, for interop tests.
type gpg struct {
	t    *testing.T
	home string
}

func newGPG(t *testing.T) *gpg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatal("gpg not found: install Debian's gnupg (scripts/test does)")
	}
	// gpg-agent's socket path must stay short: t.TempDir can be long.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	g := &gpg{t: t, home: home}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	return g
}

// run runs gpg with stdin and returns its stdout, failing the test on error.
func (g *gpg) run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	out, err := g.try(stdin, args...)
	if err != nil {
		g.t.Fatalf("gpg %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (g *gpg) try(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("gpg", append([]string{"--homedir", g.home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &gpgError{err: err, stderr: stderr.String()}
	}
	return stdout.Bytes(), nil
}

type gpgError struct {
	err    error
	stderr string
}

func (e *gpgError) Error() string { return e.err.Error() + "\n" + e.stderr }

// genKey makes a key in gpg's keyring: algo is gpg's quick-gen-key
// algorithm ("future-default": Ed25519 + Cv25519, "rsa3072", ...). An RSA
// key gets an encryption subkey of its own (gpg's "default" usage gives
// none).
func (g *gpg) genKey(uid, algo, usage string) {
	g.t.Helper()
	g.run(nil, "--quick-gen-key", uid, algo, usage, "never")
	if strings.HasPrefix(algo, "rsa") && usage == "default" {
		g.run(nil, "--quick-add-key", g.fingerprint(uid), algo, "encr", "never")
	}
}

// export returns the armored public key (or secret key) of uid.
func (g *gpg) export(uid string, secret bool) []byte {
	g.t.Helper()
	if secret {
		return g.run(nil, "--armor", "--export-secret-keys", uid)
	}
	return g.run(nil, "--armor", "--export", uid)
}

func (g *gpg) importKey(key []byte) { g.t.Helper(); g.run(key, "--import") }

// fingerprint is uid's primary fingerprint as gpg lists it.
func (g *gpg) fingerprint(uid string) string {
	g.t.Helper()
	for _, line := range strings.Split(string(g.run(nil, "--with-colons", "--fingerprint", uid)), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint for %s", uid)
	return ""
}

// newGatewayKey makes the gateway's key with go-crypto (v4 by default, v6
// with v6) and returns it loaded, with its armored public half.
func newGatewayKey(t *testing.T, v6 bool) (*Key, []byte) {
	t.Helper()
	cfg := &packet.Config{V6Keys: v6, Algorithm: packet.PubKeyAlgoEdDSA, DefaultCipher: packet.CipherAES256}
	if v6 {
		cfg.Algorithm = packet.PubKeyAlgoEd25519
		cfg.AEADConfig = &packet.AEADConfig{DefaultMode: packet.AEADModeOCB}
	}
	e, err := openpgp.NewEntity("gateway", "", "gateway@s3sftpd.test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var secret, public bytes.Buffer
	if err := e.SerializePrivate(&secret, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(&public); err != nil {
		t.Fatal(err)
	}
	k, err := ReadPrivateKey(&secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k, public.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
