package pgp

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// TestReadPublicKeys_RefusesUnfitKeys: check-config refuses, with its
// reason, every key that must not be trusted or cannot be used.
func TestReadPublicKeys_RefusesUnfitKeys(t *testing.T) {
	g := newGPG(t)
	g.genKey("good <good@acme.test>", "future-default", "default")
	g.genKey("signonly <signonly@acme.test>", "ed25519", "sign")
	g.run(nil, "--quick-gen-key", "weak <weak@acme.test>", "rsa1024", "sign,cert", "never")
	g.run(nil, "--quick-add-key", g.fingerprint("weak@acme.test"), "rsa1024", "encr", "never")
	g.run(nil, "--quick-gen-key", "dsa <dsa@acme.test>", "dsa2048", "sign,cert", "never")
	g.run(nil, "--quick-gen-key", "elg <elg@acme.test>", "ed25519", "sign,cert", "never")
	g.run(nil, "--quick-add-key", g.fingerprint("elg@acme.test"), "elg2048", "encr", "never")

	past := time.Now().Add(-48 * time.Hour)
	expired, err := openpgp.NewEntity("expired", "", "expired@acme.test", &packet.Config{KeyLifetimeSecs: 3600, Time: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := openpgp.NewEntity("revoked", "", "revoked@acme.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := revoked.Revoke(packet.KeyCompromised, "lost laptop", nil); err != nil {
		t.Fatal(err)
	}
	serialize := func(e *openpgp.Entity) []byte {
		var b bytes.Buffer
		if err := e.Serialize(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}

	for _, tc := range []struct {
		name, want string
		key        []byte
	}{
		{"good", "", g.export("good@acme.test", false)},
		{"no-encryption-subkey", "no valid encryption subkey", g.export("signonly@acme.test", false)},
		{"rsa-1024", "RSA key of 1024 bits is too weak; want at least 2048", g.export("weak@acme.test", false)},
		{"dsa", "DSA keys are not accepted", g.export("dsa@acme.test", false)},
		{"elgamal-subkey", "ElGamal keys are not accepted", g.export("elg@acme.test", false)},
		{"expired", "expired on " + past.Add(time.Hour).UTC().Format(time.DateOnly), serialize(expired)},
		{"revoked", "revoked", serialize(revoked)},
		{"not-a-key", "not an OpenPGP key", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB acme")},
		{"one-bad-among-good", "DSA keys are not accepted", append(g.export("good@acme.test", false), g.export("dsa@acme.test", false)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ReadPublicKeys(bytes.NewReader(tc.key), time.Now())
			if tc.want == "" {
				if err != nil || len(keys) != 1 {
					t.Fatalf("ReadPublicKeys = %d keys, %v; want the key", len(keys), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadPublicKeys = %v; want an error with %q", err, tc.want)
			}
		})
	}
}

func TestLoadPrivateKeyFile(t *testing.T) {
	g := newGPG(t)
	g.genKey("gw <gw@s3sftpd.test>", "future-default", "default")
	g.run(nil, "--quick-gen-key", "locked <locked@s3sftpd.test>", "future-default", "default", "never")
	secret := g.export("gw@s3sftpd.test", true)
	g.run(nil, "--passphrase", "secret", "--quick-gen-key", "pp <pp@s3sftpd.test>", "future-default", "default", "never") // the later --passphrase wins
	lockedSecret := g.run(nil, "--passphrase", "secret", "--armor", "--export-secret-keys", "pp@s3sftpd.test")
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"good", write("good.asc", secret, 0o600), ""},
		{"group-readable", write("group.asc", secret, 0o640), "readable or writable by others (mode 0640)"},
		{"public-only", write("public.asc", g.export("gw@s3sftpd.test", false), 0o600), "holds no secret key"},
		{"passphrase", write("locked.asc", lockedSecret, 0o600), "protected by a passphrase"},
		{"two-keys", write("two.asc", append(bytes.Clone(secret), g.export("locked@s3sftpd.test", true)...), 0o600), "holds 2 keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadPrivateKeyFile(tc.path, time.Now())
			if tc.want == "" {
				if err != nil || k.Fingerprint() != g.fingerprint("gw@s3sftpd.test") {
					t.Fatalf("LoadPrivateKeyFile = %v; want the gateway's key", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadPrivateKeyFile = %v; want an error with %q", err, tc.want)
			}
		})
	}
}
