package sftpd_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

// testKeys are generated once for the package: host keys, one key per user,
// and a stranger key that nobody lists.
type testKeys struct {
	hostED25519, hostRSA ssh.Signer
	ed25519, ecdsa, rsa  ssh.Signer
	stranger             ssh.Signer
	strangers            []ssh.Signer // more unlisted keys, for MaxAuthTries
}

var genKeys = sync.OnceValues(func() (testKeys, error) {
	var k testKeys
	newED25519 := func() (ssh.Signer, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return ssh.NewSignerFromKey(priv)
	}
	newRSA := func() (ssh.Signer, error) {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		return ssh.NewSignerFromKey(priv)
	}
	var err error
	if k.hostED25519, err = newED25519(); err != nil {
		return k, err
	}
	if k.hostRSA, err = newRSA(); err != nil {
		return k, err
	}
	if k.ed25519, err = newED25519(); err != nil {
		return k, err
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return k, err
	}
	if k.ecdsa, err = ssh.NewSignerFromKey(ec); err != nil {
		return k, err
	}
	if k.rsa, err = newRSA(); err != nil {
		return k, err
	}
	if k.stranger, err = newED25519(); err != nil {
		return k, err
	}
	for range 4 {
		s, err := newED25519()
		if err != nil {
			return k, err
		}
		k.strangers = append(k.strangers, s)
	}
	return k, nil
})

func keys(t *testing.T) testKeys {
	t.Helper()
	k, err := genKeys()
	if err != nil {
		t.Fatalf("generate keys: %v", err)
	}
	return k
}

// rsaWith restricts an RSA signer to one signature algorithm, so the client
// cannot fall back to another.
func rsaWith(t *testing.T, s ssh.Signer, algo string) ssh.Signer {
	t.Helper()
	ms, err := ssh.NewSignerWithAlgorithms(s.(ssh.AlgorithmSigner), []string{algo})
	if err != nil {
		t.Fatalf("NewSignerWithAlgorithms(%s): %v", algo, err)
	}
	return ms
}

// logBuffer collects the server's log; it is shown when a test fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor reports whether the log contains substr within d.
func (l *logBuffer) waitFor(substr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if strings.Contains(l.String(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testServer is a Server listening on a loopback port.
type testServer struct {
	srv  *sftpd.Server
	addr string
	logs *logBuffer
	mem  sftp.Handlers // the in-memory file system the default Handlers serve

	served   chan struct{} // closed when Serve returned
	serveErr error

	mu      sync.Mutex
	tenants []string // users Handlers was called for, in order
}

// startServer starts a Server with the test users and an in-memory file
// system shared by all sessions; configure may change any field before Serve.
// Cleanup shuts it down and checks that Serve returned ErrServerClosed.
func startServer(t *testing.T, configure func(*sftpd.Server)) *testServer {
	t.Helper()
	k := keys(t)
	users, err := auth.NewUsers([]auth.User{
		{Name: "ed", Bucket: "b", Home: "ed/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.ed25519.PublicKey()}},
		{Name: "ec", Bucket: "b", Home: "ec/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.ecdsa.PublicKey()}},
		{Name: "rsa", Bucket: "b", Home: "rsa/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.rsa.PublicKey()}},
	})
	if err != nil {
		t.Fatalf("NewUsers: %v", err)
	}
	ts := &testServer{logs: &logBuffer{}, mem: sftp.InMemHandler(), served: make(chan struct{})}
	ts.srv = &sftpd.Server{
		HostKeys: []ssh.Signer{k.hostED25519, k.hostRSA},
		Users:    users,
		Handlers: func(ctx context.Context, tn *auth.Tenant, log *slog.Logger, _ *audit.Session) sftp.Handlers {
			ts.mu.Lock()
			ts.tenants = append(ts.tenants, tn.User)
			ts.mu.Unlock()
			return ts.mem
		},
		Logger:       slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LoginTimeout: 5 * time.Second,
		MaxAuthTries: 6,
	}
	if configure != nil {
		configure(ts.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts.addr = ln.Addr().String()
	go func() {
		ts.serveErr = ts.srv.Serve(context.Background(), ln)
		close(ts.served)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut := make(chan error, 1)
		go func() { shut <- ts.srv.Shutdown(ctx) }()
		select {
		case err := <-shut:
			if err != nil {
				t.Errorf("Shutdown = %v; want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Shutdown still running 5s after its ctx expired")
		}
		if err, ok := ts.waitServe(5 * time.Second); !ok {
			t.Errorf("Serve did not return after Shutdown")
		} else if !errors.Is(err, sftpd.ErrServerClosed) {
			t.Errorf("Serve = %v; want ErrServerClosed", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs)
		}
	})
	return ts
}

// waitServe waits up to d for Serve to return, and returns its error.
func (ts *testServer) waitServe(d time.Duration) (error, bool) {
	select {
	case <-ts.served:
		return ts.serveErr, true
	case <-time.After(d):
		return nil, false
	}
}

func (ts *testServer) lastTenant() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.tenants) == 0 {
		return ""
	}
	return ts.tenants[len(ts.tenants)-1]
}

// clientConfig accepts only the test host keys.
func clientConfig(t *testing.T, user string, auths ...ssh.AuthMethod) *ssh.ClientConfig {
	k := keys(t)
	hosts := []ssh.PublicKey{k.hostED25519.PublicKey(), k.hostRSA.PublicKey()}
	return &ssh.ClientConfig{
		User: user,
		Auth: auths,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, h := range hosts {
				if bytes.Equal(h.Marshal(), key.Marshal()) {
					return nil
				}
			}
			return fmt.Errorf("unknown host key %s", ssh.FingerprintSHA256(key))
		},
		Timeout: 5 * time.Second,
	}
}

// sshLogin logs in with signer and closes the connection at cleanup.
func sshLogin(t *testing.T, addr, user string, signer ssh.Signer) *ssh.Client {
	t.Helper()
	sc, err := ssh.Dial("tcp", addr, clientConfig(t, user, ssh.PublicKeys(signer)))
	if err != nil {
		t.Fatalf("login as %s with %s key: %v", user, signer.PublicKey().Type(), err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc
}

// sftpOn starts an sftp session on sc and closes it at cleanup.
func sftpOn(t *testing.T, sc *ssh.Client) *sftp.Client {
	t.Helper()
	c, err := sftp.NewClient(sc)
	if err != nil {
		t.Fatalf("start sftp: %v", err)
	}
	t.Cleanup(func() {
		sc.Close() // first: with a stuck server, c.Close would wait for it
		c.Close()
	})
	return c
}

// closedWithin reports whether the SSH connection ends within d.
func closedWithin(sc *ssh.Client, d time.Duration) bool {
	done := make(chan struct{})
	go func() { sc.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func TestServer_LoginRoundTrip(t *testing.T) {
	k := keys(t)
	tests := []struct {
		name   string
		user   string
		signer ssh.Signer
	}{
		{"ed25519", "ed", k.ed25519},
		{"ecdsa-p256", "ec", k.ecdsa},
		{"rsa-sha2-256", "rsa", rsaWith(t, k.rsa, ssh.KeyAlgoRSASHA256)},
		{"rsa-sha2-512", "rsa", rsaWith(t, k.rsa, ssh.KeyAlgoRSASHA512)},
	}
	ts := startServer(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sftpOn(t, sshLogin(t, ts.addr, tt.user, tt.signer))
			if got := ts.lastTenant(); got != tt.user {
				t.Errorf("Handlers got tenant %q; want %q", got, tt.user)
			}

			want := make([]byte, 200<<10) // several SFTP packets
			rand.Read(want)
			name := "/" + tt.name + ".bin"
			f, err := c.Create(name)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if _, err := f.Write(want); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("Close after write: %v", err)
			}
			fi, err := c.Stat(name)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if fi.Size() != int64(len(want)) {
				t.Errorf("Stat size = %d; want %d", fi.Size(), len(want))
			}
			r, err := c.Open(name)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read back %d bytes that differ from the %d written", len(got), len(want))
			}
		})
	}
}

// TestServer_LargeReadReplies: a client that asks for 255 KiB per read (as
// OpenSSH sftp -B 261120 and rclone do) gets that much per reply, not 32 KiB.
func TestServer_LargeReadReplies(t *testing.T) {
	const want = 255 << 10
	k := keys(t)
	mem := sftp.InMemHandler()
	var largest atomic.Int64
	ts := startServer(t, func(s *sftpd.Server) {
		s.Handlers = func(context.Context, *auth.Tenant, *slog.Logger, *audit.Session) sftp.Handlers {
			h := mem
			h.FileGet = readSizes{mem.FileGet, &largest}
			return h
		}
	})
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	c, err := sftp.NewClient(sc, sftp.MaxPacketUnchecked(want))
	if err != nil {
		t.Fatalf("start sftp: %v", err)
	}
	defer c.Close()
	data := make([]byte, 1<<20)
	rand.Read(data)
	f, err := c.Create("/big.bin")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	f.Close()
	r, err := c.Open("/big.bin")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	got := make([]byte, want)
	if n, err := r.ReadAt(got, 0); err != nil || n != want || !bytes.Equal(got, data[:want]) {
		t.Fatalf("ReadAt of %d bytes = %d, %v (equal %v)", want, n, err, bytes.Equal(got[:n], data[:n]))
	}
	if l := largest.Load(); l != want {
		t.Errorf("largest read reaching the handler = %d bytes; want %d", l, want)
	}
}

// readSizes records the largest read the server passed to the handler.
type readSizes struct {
	sftp.FileReader
	largest *atomic.Int64
}

func (g readSizes) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	rd, err := g.FileReader.Fileread(r)
	return readSizer{rd, g.largest}, err
}

type readSizer struct {
	io.ReaderAt
	largest *atomic.Int64
}

func (r readSizer) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > r.largest.Load() {
		r.largest.Store(int64(len(p)))
	}
	return r.ReaderAt.ReadAt(p, off)
}
