package sftpd_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/defender"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

// Pre-auth lockout: idle sockets that fill the handshake slots must not keep
// a partner out.

// idleServer is a server with the default caps (16 per address, 256 in all,
// early drop from 64 at 30%) and a login timeout long enough for the idle
// sockets of a test to outlive it.
func idleServer(t *testing.T) *testServer {
	return startServer(t, func(s *sftpd.Server) {
		s.LoginTimeout = time.Minute
		s.Defender = &defender.Config{IPFailures: 10, Window: time.Minute, BanTime: time.Minute, BanTimeMax: time.Hour,
			MaxUnauthPerIP: 16, MaxUnauth: 256, EarlyDropStart: 64, EarlyDropRate: 30}
	})
}

// holdIdle opens perSource connections from each source that send their SSH
// version line and then nothing, the cheapest way to hold a handshake slot
// for the whole login timeout. Connections the server refuses or closes are
// opened again until all of them are held at once. Cleanup closes them.
func holdIdle(t *testing.T, addr string, sources []string, perSource int) {
	t.Helper()
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	open := func(src string) (net.Conn, error) {
		for try := 0; try < 5000; try++ {
			nc, err := dialFrom(src, addr)
			if err != nil {
				return nil, err
			}
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 7)
			if _, err := io.ReadFull(nc, b); err == nil && string(b) == "SSH-2.0" {
				nc.SetReadDeadline(time.Time{})
				if _, err := nc.Write([]byte("SSH-2.0-idle\r\n")); err == nil {
					return nc, nil
				}
			}
			nc.Close()
		}
		return nil, errors.New("refused 5000 times in a row")
	}
	alive := func(nc net.Conn) bool {
		nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := io.ReadAll(nc) // the server's KEXINIT, then nothing until the login timeout
		return errors.Is(err, os.ErrDeadlineExceeded)
	}
	conns := make([][]net.Conn, len(sources))
	for round := 0; ; round++ {
		var wg sync.WaitGroup
		errs := make([]error, len(sources))
		for i, src := range sources {
			wg.Go(func() {
				for len(conns[i]) < perSource {
					nc, err := open(src)
					if err != nil {
						errs[i] = fmt.Errorf("hold an idle connection from %s: %w", src, err)
						return
					}
					mu.Lock()
					held = append(held, nc)
					mu.Unlock()
					conns[i] = append(conns[i], nc)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		ok := make([][]bool, len(conns))
		for i := range conns {
			ok[i] = make([]bool, len(conns[i]))
			for j, nc := range conns[i] {
				wg.Go(func() { ok[i][j] = alive(nc) })
			}
		}
		wg.Wait()
		lost := 0
		for i := range conns {
			kept := conns[i][:0]
			for j, nc := range conns[i] {
				if ok[i][j] {
					kept = append(kept, nc)
				}
			}
			lost += len(conns[i]) - len(kept)
			conns[i] = kept
		}
		if lost == 0 {
			return
		}
		if round == 100 {
			t.Fatalf("still losing idle connections after 100 rounds (%d in the last)", lost)
		}
	}
}

// loopbacks are n loopback addresses from base: 127.0.x.1 and on.
func loopbacks(third, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("127.0.%d.%d", third+i/250, 1+i%250))
	}
	return out
}

// TestDefender_PartnerLogsInPastIdleSockets: 16 idle sockets from each of 16
// addresses fill every handshake slot (256); a partner from another address,
// who never logged in before, still logs in, again and again.
func TestDefender_PartnerLogsInPastIdleSockets(t *testing.T) {
	k := keys(t)
	ts := idleServer(t)
	holdIdle(t, ts.addr, loopbacks(10, 16), 16)
	for i := range 3 {
		c, err := loginFrom(t, "127.0.20.1", ts.addr, "ed", k.ed25519)
		if err != nil {
			t.Fatalf("partner login %d while 256 idle sockets from 16 addresses are held: %v", i+1, err)
		}
		sftpOn(t, c)
		c.Close()
	}
}

// TestDefender_KnownPartnerLogsInPastManySources: one idle socket from each
// of 256 addresses fills every slot with no address holding more than its
// share. A new address is then refused, but a partner's address that logged
// in before still gets in.
func TestDefender_KnownPartnerLogsInPastManySources(t *testing.T) {
	k := keys(t)
	ts := idleServer(t)
	c, err := loginFrom(t, "127.0.20.2", ts.addr, "ed", k.ed25519)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	holdIdle(t, ts.addr, loopbacks(10, 256), 1)
	if c, err := loginFrom(t, "127.0.20.3", ts.addr, "ed", k.ed25519); err == nil {
		c.Close()
		t.Errorf("a login from a new address got in while 256 addresses hold a slot each; want it refused")
	}
	for i := range 3 {
		c, err := loginFrom(t, "127.0.20.2", ts.addr, "ed", k.ed25519)
		if err != nil {
			t.Fatalf("login %d of a known partner while 256 addresses hold a slot each: %v", i+1, err)
		}
		sftpOn(t, c)
		c.Close()
	}
}
