package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// createDemoKey writes an ed25519 client key pair for a demo user: the public
// key at pubPath and the private key beside it without ".pub" (mode 0600).
// It returns the private key's path.
func createDemoKey(pubPath string) (string, error) {
	priv := strings.TrimSuffix(pubPath, ".pub")
	if priv == pubPath {
		priv = pubPath + ".key"
	}
	if err := os.MkdirAll(filepath.Dir(pubPath), 0o700); err != nil {
		return "", fmt.Errorf("demo key dir: %w", err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(key, "s3sftpd demo key")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(priv, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", fmt.Errorf("write demo key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " s3sftpd-demo\n"
	if err := os.WriteFile(pubPath, []byte(line), 0o644); err != nil {
		return "", fmt.Errorf("write demo public key: %w", err)
	}
	return priv, nil
}

func knownHostsPath(priv string) string { return filepath.Join(filepath.Dir(priv), "known_hosts") }

// relPath shortens an absolute path to one relative to the working directory
// when that is simpler to type.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
		return "./" + rel
	}
	return p
}

func host(listen string) string {
	h, _, err := net.SplitHostPort(listen)
	if err != nil || h == "" || h == "0.0.0.0" || h == "::" {
		return "127.0.0.1"
	}
	return h
}

func port(listen string) string {
	_, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "22"
	}
	return p
}
