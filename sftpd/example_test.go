package sftpd_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

func ExampleServer() {
	// Host keys are created on first start and reused afterwards.
	dir, err := os.MkdirTemp("", "hostkeys")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	hostKeys, _, err := sftpd.LoadHostKeys(dir)
	if err != nil {
		log.Fatal(err)
	}

	// One user and their key; cmd reads these from the config file.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	aliceKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		log.Fatal(err)
	}
	users, err := auth.NewUsers([]auth.User{{
		Name: "alice", Bucket: "uploads", Home: "alice/", Perms: auth.AllPerms,
		Keys: []ssh.PublicKey{aliceKey.PublicKey()},
	}})
	if err != nil {
		log.Fatal(err)
	}

	srv := &sftpd.Server{
		HostKeys: hostKeys,
		Users:    users,
		// cmd returns s3fs handlers confined to t.Bucket and t.Prefix here.
		Handlers: func(ctx context.Context, t *auth.Tenant, log *slog.Logger, a *audit.Session) sftp.Handlers {
			return sftp.InMemHandler()
		},
		Logger:            slog.New(slog.DiscardHandler),
		LoginTimeout:      30 * time.Second, // handshake and login must finish within it
		IdleTimeout:       15 * time.Minute,
		KeepaliveInterval: 30 * time.Second,
		KeepaliveCountMax: 3,
		MaxAuthTries:      3,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()

	// Alice uploads a file, pinning the server's ed25519 host key.
	sc, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{
		User:              "alice",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(aliceKey)},
		HostKeyCallback:   ssh.FixedHostKey(hostKeys[0].PublicKey()),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := sftp.NewClient(sc)
	if err != nil {
		log.Fatal(err)
	}
	f, err := c.Create("/hello.txt")
	if err != nil {
		log.Fatal(err)
	}
	n, err := f.Write([]byte("hello, world"))
	if err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("uploaded %d bytes\n", n)
	c.Close()
	sc.Close()

	// On SIGTERM: stop accepting, let transfers finish for up to a minute.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Print(err)
	}
	fmt.Println(<-served)
	// Output:
	// uploaded 12 bytes
	// sftpd: server closed
}
