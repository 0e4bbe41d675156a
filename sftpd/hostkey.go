package sftpd

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// hostKeyFiles are the host keys a server has, created when missing.
var hostKeyFiles = []struct {
	name string
	gen  func() (any, error)
}{
	{"ssh_host_ed25519_key", func() (any, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }},
	{"ssh_host_rsa_key", func() (any, error) { return rsa.GenerateKey(rand.Reader, 3072) }},
}

// LoadHostKeys reads the ed25519 and RSA host keys from dir, generating any
// that are missing (mode 0600, OpenSSH format). created names the new files.
func LoadHostKeys(dir string) (keys []ssh.Signer, created []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create host key dir: %w", err)
	}
	for _, hk := range hostKeyFiles {
		path := filepath.Join(dir, hk.name)
		pemBytes, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			pemBytes, err = generateKey(path, hk.gen)
			created = append(created, path)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("host key %s: %w", path, err)
		}
		signer, err := ssh.ParsePrivateKey(pemBytes)
		if err != nil {
			return nil, nil, fmt.Errorf("parse host key %s: %w", path, err)
		}
		keys = append(keys, signer)
	}
	return keys, created, nil
}

// GenerateKeyFile writes a new private key to path (mode 0600) and returns its PEM.
func generateKey(path string, gen func() (any, error)) ([]byte, error) {
	key, err := gen()
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return nil, err
	}
	pemBytes := pem.EncodeToMemory(block)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		return nil, err
	}
	return pemBytes, f.Close()
}
