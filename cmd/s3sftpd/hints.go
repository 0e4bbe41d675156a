package main

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/internal/tryout"
)

// printConnectHints prints, once the server listens on addr, the command
// that connects with each demo key, and the fingerprint of every host key:
// a partner should pin them all, since clients choose different ones
// (OpenSSH ed25519; rclone and other Go x/crypto clients RSA, failing with
// "key mismatch" when only the ed25519 key is known).
func printConnectHints(w io.Writer, cfg *config.Config, addr string, hostKeys []ssh.Signer) {
	var cmds []string
	for _, u := range cfg.Users {
		if priv, ok := tryout.DemoKey(u.KeysFile); ok {
			cmds = append(cmds, "  "+tryout.ConnectCommand(priv, u.Name, addr)+"\n")
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
