package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// TestE2E_PartnerPastIdleSockets: with the default [defender], 16 sockets
// from each of 16 addresses that sent their SSH version line and then
// nothing hold all 256 handshake slots; OpenSSH sftp from another address
// still logs in and lists its home.
func TestE2E_PartnerPastIdleSockets(t *testing.T) {
	g := startGateway(t, nil, gatewayOpts{endpoint: "embedded", server: "login_timeout = \"2m\"\n"})
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	alive := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := io.ReadAll(c)
		return errors.Is(err, os.ErrDeadlineExceeded)
	}
	// fill opens idle connections from src until *mine holds n open ones;
	// the gateway closes some of them to make room for newer ones.
	fill := func(src string, mine *[]net.Conn, n int) error {
		for tries := 0; len(*mine) < n; tries++ {
			if tries == 20000 {
				return fmt.Errorf("%s holds %d of %d idle connections after %d tries", src, len(*mine), n, tries)
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
			nc, err := d.Dial("tcp", g.addr)
			if err != nil {
				return err
			}
			mu.Lock()
			held = append(held, nc)
			mu.Unlock()
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 7)
			if _, err := io.ReadFull(nc, b); err != nil || string(b) != "SSH-2.0" {
				nc.Close()
				continue
			}
			nc.Write([]byte("SSH-2.0-idle\r\n"))
			*mine = append(*mine, nc)
		}
		return nil
	}
	conns := make([][]net.Conn, 16)
	for round := 0; ; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for i := range conns {
			wg.Go(func() { errs[i] = fill(fmt.Sprintf("127.0.10.%d", i+1), &conns[i], 16) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		lost := 0
		for i := range conns {
			kept := conns[i][:0]
			for _, c := range conns[i] {
				if alive(c) {
					kept = append(kept, c)
				}
			}
			lost += len(conns[i]) - len(kept)
			conns[i] = kept
		}
		if lost == 0 {
			break
		}
		if round == 100 {
			t.Fatalf("still losing idle connections after 100 rounds")
		}
	}
	if out, err := g.sftp(t, t.TempDir(), "acme", clientKeys["ed25519"], "ls\n"); err != nil {
		t.Fatalf("OpenSSH sftp while 256 idle sockets from 16 addresses are held: %v\n%s", err, out)
	}
}
