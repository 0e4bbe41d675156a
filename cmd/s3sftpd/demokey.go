package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/config"
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
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + demoComment + "\n"
	if err := os.WriteFile(pubPath, []byte(line), 0o644); err != nil {
		return "", fmt.Errorf("write demo public key: %w", err)
	}
	return priv, nil
}

// demoComment ends the public key line of a demo key.
const demoComment = "s3sftpd-demo"

// demoKey returns the private key beside a demo user's keys file, if the
// file holds a demo key made by createDemoKey and the private key is there.
func demoKey(pubPath string) (string, bool) {
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

// printConnectHints prints, once the server listens on addr, the command
// that connects with each demo key, and the fingerprint of every host key:
// a partner should pin them all, since clients choose different ones
// (OpenSSH ed25519; rclone and other Go x/crypto clients RSA, failing with
// "key mismatch" when only the ed25519 key is known).
func printConnectHints(w io.Writer, cfg *config.Config, addr string, hostKeys []ssh.Signer) {
	var cmds []string
	for _, u := range cfg.Users {
		if priv, ok := demoKey(u.KeysFile); ok {
			cmds = append(cmds, fmt.Sprintf("  sftp -i %s -P %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=accept-new %s@%s\n",
				relPath(priv), port(addr), relPath(knownHostsPath(priv)), u.Name, host(addr)))
		}
	}
	if len(cmds) == 0 {
		return
	}
	fmt.Fprintf(w, "\nConnect with:\n%s\nHost keys (pin every one: OpenSSH uses the ed25519 key, rclone and other Go clients the RSA key):\n", strings.Join(cmds, ""))
	for _, k := range hostKeys {
		fmt.Fprintf(w, "  %-12s %s\n", k.PublicKey().Type(), ssh.FingerprintSHA256(k.PublicKey()))
	}
	fmt.Fprintln(w)
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
