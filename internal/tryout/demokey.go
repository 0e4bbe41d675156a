package tryout

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

// CreateDemoKey writes an ed25519 client key pair for a demo user: the public
// key at pubPath and the private key beside it without ".pub" (mode 0600).
// It returns the private key's path.
func CreateDemoKey(pubPath string) (string, error) {
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
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + demoComment + "\n"
	if err := os.WriteFile(pubPath, []byte(line), 0o644); err != nil {
		return "", fmt.Errorf("write demo public key: %w", err)
	}
	return priv, nil
}

// demoComment ends the public key line of a demo key.
const demoComment = "s3sftpd-demo"

// DemoKey returns the private key beside a demo user's keys file, if the
// file holds a demo key made by CreateDemoKey and the private key is there.
func DemoKey(pubPath string) (string, bool) {
	b, err := os.ReadFile(pubPath)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(b)), " "+demoComment) {
		return "", false
	}
	priv := strings.TrimSuffix(pubPath, ".pub")
	if priv == pubPath {
		priv = pubPath + ".key"
	}
	if _, err := os.Stat(priv); err != nil {
		return "", false
	}
	return priv, true
}

// ConnectCommand is the OpenSSH command that connects user with the demo
// key priv to a server listening on addr, trusting its host keys on first
// use into a known_hosts file beside the key.
func ConnectCommand(priv, user, addr string) string {
	return fmt.Sprintf("sftp -i %s -P %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=accept-new %s@%s",
		relPath(priv), port(addr), relPath(knownHostsPath(priv)), user, host(addr))
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
