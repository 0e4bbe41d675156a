package sftpd_test

import (
	"crypto/rsa"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/sftpd"
)

func fingerprints(keys []ssh.Signer) []string {
	var fps []string
	for _, k := range keys {
		fps = append(fps, ssh.FingerprintSHA256(k.PublicKey()))
	}
	return fps
}

func TestLoadHostKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hostkeys") // missing: LoadHostKeys creates it
	edPath := filepath.Join(dir, "ssh_host_ed25519_key")
	rsaPath := filepath.Join(dir, "ssh_host_rsa_key")

	keys, created, err := sftpd.LoadHostKeys(dir)
	if err != nil {
		t.Fatalf("first LoadHostKeys: %v", err)
	}
	if want := []string{edPath, rsaPath}; !slices.Equal(created, want) {
		t.Errorf("first LoadHostKeys created %q; want %q", created, want)
	}
	var types []string
	for _, k := range keys {
		types = append(types, k.PublicKey().Type())
	}
	if want := []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSA}; !slices.Equal(types, want) {
		t.Errorf("key types = %q; want %q", types, want)
	}
	if len(keys) == 2 {
		rk := keys[1].PublicKey().(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey)
		if bits := rk.N.BitLen(); bits < 3072 {
			t.Errorf("RSA host key has %d bits; want at least 3072", bits)
		}
	}
	for _, p := range []string{edPath, rsaPath} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s mode = %v; want 0600", filepath.Base(p), mode)
		}
	}
	if fi, err := os.Stat(dir); err != nil {
		t.Fatalf("stat dir: %v", err)
	} else if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		t.Errorf("host key dir mode = %v; want no group or other access", mode)
	}
	firstFPs := fingerprints(keys)

	t.Run("reload", func(t *testing.T) {
		keys, created, err := sftpd.LoadHostKeys(dir)
		if err != nil {
			t.Fatalf("second LoadHostKeys: %v", err)
		}
		if len(created) != 0 {
			t.Errorf("second LoadHostKeys created %q; want nothing", created)
		}
		if got := fingerprints(keys); !slices.Equal(got, firstFPs) {
			t.Errorf("reloaded fingerprints = %q; want the first ones %q", got, firstFPs)
		}
	})

	t.Run("one-missing", func(t *testing.T) {
		if err := os.Remove(edPath); err != nil {
			t.Fatal(err)
		}
		keys, created, err := sftpd.LoadHostKeys(dir)
		if err != nil {
			t.Fatalf("LoadHostKeys: %v", err)
		}
		if want := []string{edPath}; !slices.Equal(created, want) {
			t.Errorf("created %q; want only %q", created, want)
		}
		got := fingerprints(keys)
		if len(got) != 2 || got[0] == firstFPs[0] || got[1] != firstFPs[1] {
			t.Errorf("fingerprints = %q; want a new ed25519 key and the old RSA key %s", got, firstFPs[1])
		}
	})
}

func TestLoadHostKeys_Errors(t *testing.T) {
	t.Run("garbled", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "ssh_host_ed25519_key")
		// A PEM frame around no key at all (built up, so no scanner mistakes it for key material).
		pem := "OPENSSH " + "PRIVATE KEY"
		garbage := []byte("-----BEGIN " + pem + "-----\nnot a key\n-----END " + pem + "-----\n")
		if err := os.WriteFile(path, garbage, 0o600); err != nil {
			t.Fatal(err)
		}
		if keys, _, err := sftpd.LoadHostKeys(dir); err == nil {
			t.Fatalf("LoadHostKeys with a garbled key = %d keys, nil error; want an error", len(keys))
		}
		// The server's identity is never silently replaced.
		if got, err := os.ReadFile(path); err != nil || string(got) != string(garbage) {
			t.Errorf("garbled key file was changed (read err %v)", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		dir := t.TempDir()
		// A directory in the key's place cannot be read, even by root.
		if err := os.Mkdir(filepath.Join(dir, "ssh_host_rsa_key"), 0o700); err != nil {
			t.Fatal(err)
		}
		if keys, _, err := sftpd.LoadHostKeys(dir); err == nil {
			t.Fatalf("LoadHostKeys with an unreadable key = %d keys, nil error; want an error", len(keys))
		}
	})
	t.Run("dir-is-file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sftpd.LoadHostKeys(path); err == nil {
			t.Fatalf("LoadHostKeys on a regular file succeeded; want an error")
		}
	})
}
