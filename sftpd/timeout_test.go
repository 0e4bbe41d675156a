package sftpd_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/sftpd"
)

func TestServer_LoginTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ts := startServer(t, func(s *sftpd.Server) { s.LoginTimeout = timeout })

	// A client that connects and never speaks.
	start := time.Now()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(10 * timeout))
	br := bufio.NewReader(nc)
	banner, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read server version: %v", err)
	}
	if !strings.HasPrefix(banner, "SSH-2.0-") {
		t.Errorf("server version = %q; want SSH-2.0-...", banner)
	}
	_, err = io.Copy(io.Discard, br)
	elapsed := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v; want closed after LoginTimeout %v", elapsed, timeout)
	}
	if elapsed < timeout*8/10 {
		t.Errorf("connection closed after %v; want not before LoginTimeout %v", elapsed, timeout)
	}
}

// TestServer_VersionLineTimeout: a client has 5 s to send its version line,
// however long the login timeout; one that sent it has the login timeout.
func TestServer_VersionLineTimeout(t *testing.T) {
	ts := startServer(t, func(s *sftpd.Server) { s.LoginTimeout = time.Minute })
	silent, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	spoke, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer spoke.Close()
	if _, err := spoke.Write([]byte("SSH-2.0-slow\r\n")); err != nil {
		t.Fatal(err)
	}
	silent.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, silent); err != nil {
		t.Fatalf("a client silent for 20 s with a 1 min login timeout: %v; want it closed after 5 s", err)
	}
	// As long has passed for the other one, which must still be open.
	spoke.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := io.Copy(io.Discard, spoke); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a client that sent its version line was closed (%v); want it open until the login timeout", err)
	}
}

func TestServer_ZeroLoginTimeoutMeansNoLimit(t *testing.T) {
	k := keys(t)
	ts := startServer(t, func(s *sftpd.Server) { s.LoginTimeout = 0 })
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	if _, err := sftpOn(t, sc).Stat("/"); err != nil {
		t.Errorf("Stat with LoginTimeout 0: %v", err)
	}
}

func TestServer_IdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	k := keys(t)
	ts := startServer(t, func(s *sftpd.Server) {
		s.IdleTimeout = idle
		// Shorter than the active phase below: it must stop applying after login.
		s.LoginTimeout = 500 * time.Millisecond
	})

	t.Run("idle-sftp-session", func(t *testing.T) {
		sc := sshLogin(t, ts.addr, "ed", k.ed25519)
		sftpOn(t, sc)
		start := time.Now()
		if !closedWithin(sc, 10*idle) {
			t.Fatalf("idle session still open after %v; want closed after IdleTimeout %v", 10*idle, idle)
		}
		if elapsed := time.Since(start); elapsed < idle*2/3 {
			t.Errorf("idle session closed after %v; want not before IdleTimeout %v", elapsed, idle)
		}
	})

	t.Run("no-channel", func(t *testing.T) {
		sc := sshLogin(t, ts.addr, "ed", k.ed25519)
		if !closedWithin(sc, 10*idle) {
			t.Fatalf("connection without a session still open after %v; want closed", 10*idle)
		}
	})

	t.Run("active-session", func(t *testing.T) {
		sc := sshLogin(t, ts.addr, "ed", k.ed25519)
		c := sftpOn(t, sc)
		for end := time.Now().Add(3 * idle); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if _, err := c.Stat("/"); err != nil {
				t.Fatalf("Stat on an active session: %v", err)
			}
		}
		// Once the client stops, the timer that was running all along fires.
		if !closedWithin(sc, 10*idle) {
			t.Fatalf("session still open %v after its last request; want closed", 10*idle)
		}
	})
}

// A write or close that takes S3 longer than the idle timeout leaves the client
// waiting for the reply, sending nothing; that session is busy, not idle.
func TestServer_IdleTimeoutWaitsForSlowTransfer(t *testing.T) {
	const idle = 300 * time.Millisecond
	k := keys(t)
	g := newGate()
	mem := sftp.InMemHandler()
	ts := startServer(t, func(s *sftpd.Server) {
		s.IdleTimeout = idle
		s.Handlers = g.handlers(mem)
	})
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	c := sftpOn(t, sc)
	_, f, wrote := startUpload(t, c, g, "/slow.bin", []byte("slow storage"))

	if closedWithin(sc, 5*idle) {
		t.Fatalf("session closed as idle while its write was still being stored")
	}
	close(g.release)
	if err := <-wrote; err != nil {
		t.Fatalf("held Write: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The idle clock starts again once the write returned.
	if !closedWithin(sc, 10*idle) {
		t.Fatalf("session still open %v after its transfer ended; want closed as idle", 10*idle)
	}
}

func TestServer_Keepalive(t *testing.T) {
	k := keys(t)
	ts := startServer(t, func(s *sftpd.Server) {
		s.KeepaliveInterval = 100 * time.Millisecond
		s.KeepaliveCountMax = 2
	})

	t.Run("answering-client-stays", func(t *testing.T) {
		sc := sshLogin(t, ts.addr, "ed", k.ed25519)
		c := sftpOn(t, sc)
		if closedWithin(sc, 600*time.Millisecond) {
			t.Fatalf("connection of a client that answers keepalives was closed")
		}
		if _, err := c.Stat("/"); err != nil {
			t.Errorf("Stat after keepalives: %v", err)
		}
	})

	t.Run("silent-client-dropped", func(t *testing.T) {
		// A client whose SSH layer never answers global requests: nobody
		// reads reqs, so keepalive@openssh.com goes unanswered.
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer nc.Close()
		cc, _, _, err := ssh.NewClientConn(nc, ts.addr, clientConfig(t, "ed", ssh.PublicKeys(k.ed25519)))
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		defer cc.Close()
		if !ts.logs.waitFor(`msg="keepalive unanswered" conn=`, 3*time.Second) {
			t.Fatalf("server did not drop a client that ignores keepalives")
		}
		done := make(chan struct{})
		go func() { cc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Errorf("connection still open after keepalive failure")
		}
	})
}
