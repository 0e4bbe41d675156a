package sftpd_test

import (
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/defender"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

// defended starts a server with the defender and an audit trail in memory.
func defended(t *testing.T, d defender.Config) (*testServer, func() []audit.Record) {
	t.Helper()
	buf := &logBuffer{}
	l, err := audit.Open(audit.Config{Stdout: buf})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(s *sftpd.Server) {
		s.Audit = l
		s.Defender = &d
		s.MaxAuthTries = 1
	})
	return ts, func() []audit.Record {
		var recs []audit.Record
		for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
			var r audit.Record
			if line != "" && json.Unmarshal([]byte(line), &r) == nil {
				recs = append(recs, r)
			}
		}
		return recs
	}
}

// dialFrom opens TCP to addr from the loopback address src (127.0.0.2 and
// up are loopback on Linux too), so one test can play several hosts.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// loginFrom logs in from src; the caller closes the client.
func loginFrom(t *testing.T, src, addr, user string, signer ssh.Signer) (*ssh.Client, error) {
	nc, err := dialFrom(src, addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, clientConfig(t, user, ssh.PublicKeys(signer)))
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// TestDefender_BruteForce: 1000 failed logins from one address get it banned
// after the threshold (the rest are closed before the SSH handshake), while
// a partner on another address keeps logging in at normal speed.
func TestDefender_BruteForce(t *testing.T) {
	const attempts, workers, threshold = 1000, 8, 10
	k := keys(t)
	ts, read := defended(t, defender.Config{IPFailures: threshold, Window: time.Minute,
		BanTime: time.Minute, BanTimeMax: time.Hour, MaxUnauthPerIP: workers, MaxUnauth: 64})

	var reachedAuth, refused atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= attempts {
				c, err := loginFrom(t, "127.0.0.2", ts.addr, "ed", k.stranger)
				switch {
				case err == nil:
					c.Close()
					t.Errorf("the stranger key logged in")
				case strings.Contains(err.Error(), "unable to authenticate"), strings.Contains(err.Error(), "authentication failures"):
					reachedAuth.Add(1)
				default:
					refused.Add(1)
				}
			}
		})
	}
	// Meanwhile a partner logs in from 127.0.0.3, one login after another.
	var slowest time.Duration
	logins := 0
	for start := time.Now(); time.Since(start) < 2*time.Second || logins < 10; logins++ {
		t0 := time.Now()
		c, err := loginFrom(t, "127.0.0.3", ts.addr, "ed", k.ed25519)
		if err != nil {
			t.Fatalf("partner login %d during the attack: %v", logins, err)
		}
		c.Close()
		slowest = max(slowest, time.Since(t0))
	}
	wg.Wait()
	t.Logf("attack: %d attempts reached authentication, %d closed at accept; partner: %d logins, slowest %v",
		reachedAuth.Load(), refused.Load(), logins, slowest)
	if n := reachedAuth.Load(); n < threshold || n > threshold+2*workers {
		t.Errorf("attempts that reached authentication = %d; want %d to %d (threshold, plus up to two per worker in flight at the ban)", n, threshold, threshold+2*workers)
	}
	if refused.Load() < attempts-threshold-2*workers {
		t.Errorf("attempts closed at accept = %d; want at least %d", refused.Load(), attempts-threshold-2*workers)
	}
	if slowest > 2*time.Second {
		t.Errorf("slowest partner login during the attack took %v; want well under 2s", slowest)
	}

	// Refused before the handshake: not even the server's version line.
	nc, err := dialFrom("127.0.0.2", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(nc); len(b) != 0 || err != nil {
		t.Errorf("banned address read %q, %v; want the connection closed with nothing sent", b, err)
	}
	nc.Close()

	bans := 0
	for _, r := range read() {
		if r.Event == audit.EventBan {
			bans++
			if r.Remote != "127.0.0.2" || r.DurMS == nil || *r.DurMS != time.Minute.Milliseconds() {
				t.Errorf("ban record %+v; want 127.0.0.2 banned for 60000 ms", r)
			}
		}
	}
	if bans != 1 {
		t.Errorf("got %d ban records; want 1", bans)
	}
	if !ts.logs.waitFor("address banned", time.Second) {
		t.Errorf("no log line for the ban")
	}
}

// TestDefender_UnbanAndRepeat: a ban expires (logged and audited), and the
// next one lasts twice as long.
func TestDefender_UnbanAndRepeat(t *testing.T) {
	k := keys(t)
	ts, read := defended(t, defender.Config{IPFailures: 2, Window: time.Minute,
		BanTime: time.Second, BanTimeMax: time.Hour})
	fail := func() {
		for range 2 {
			if c, err := loginFrom(t, "127.0.0.4", ts.addr, "ed", k.stranger); err == nil {
				c.Close()
				t.Fatal("the stranger key logged in")
			}
		}
	}
	fail()
	waitCount(t, ts, "address banned", 1)
	if _, err := loginFrom(t, "127.0.0.4", ts.addr, "ed", k.ed25519); err == nil {
		t.Fatalf("login from a banned address succeeded")
	}
	if !ts.logs.waitFor("address unbanned", 5*time.Second) {
		t.Fatalf("no unban within 5s of a 1s ban")
	}
	c, err := loginFrom(t, "127.0.0.4", ts.addr, "ed", k.ed25519)
	if err != nil {
		t.Fatalf("login after the ban expired: %v", err)
	}
	c.Close()
	fail()
	waitCount(t, ts, "address banned", 2)
	var durs []int64
	unbans := 0
	for _, r := range read() {
		switch r.Event {
		case audit.EventBan:
			durs = append(durs, *r.DurMS)
		case audit.EventUnban:
			unbans++
		}
	}
	if len(durs) != 2 || durs[0] != 1000 || durs[1] != 2000 || unbans != 1 {
		t.Errorf("ban durations %v ms and %d unbans; want [1000 2000] and 1", durs, unbans)
	}
}

// TestDefender_UserTargeted: after the failures for one user name cross the
// user threshold, any address failing for it again is banned at once, and
// the account still works from elsewhere.
func TestDefender_UserTargeted(t *testing.T) {
	k := keys(t)
	ts, read := defended(t, defender.Config{IPFailures: 100, UserFailures: 3, Window: time.Minute,
		BanTime: time.Minute, BanTimeMax: time.Hour})
	for i := range 4 { // four attackers, one failure each
		src := "127.0.1." + string(rune('1'+i))
		if c, err := loginFrom(t, src, ts.addr, "ed", k.stranger); err == nil {
			c.Close()
			t.Fatal("the stranger key logged in")
		}
		// The server counts a failure after the client has seen the
		// connection close: wait for it, so the failures keep their order.
		waitCount(t, ts, "msg=disconnect", i+1)
	}
	waitCount(t, ts, "address banned", 1)
	var banned []string
	for _, r := range read() {
		if r.Event == audit.EventBan {
			banned = append(banned, r.Remote)
		}
	}
	if len(banned) != 1 || banned[0] != "127.0.1.4" {
		t.Errorf("banned %v; want only the fourth address, 127.0.1.4", banned)
	}
	c, err := loginFrom(t, "127.0.0.5", ts.addr, "ed", k.ed25519)
	if err != nil {
		t.Fatalf("the targeted user cannot log in from another address: %v", err)
	}
	c.Close()
}

// TestDefender_AllowList: an allow-listed address is never banned.
func TestDefender_AllowList(t *testing.T) {
	k := keys(t)
	ts, _ := defended(t, defender.Config{IPFailures: 2, Window: time.Minute, BanTime: time.Minute,
		BanTimeMax: time.Hour, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.2.0/24")}})
	for range 5 {
		if c, err := loginFrom(t, "127.0.2.1", ts.addr, "ed", k.stranger); err == nil {
			c.Close()
		}
	}
	c, err := loginFrom(t, "127.0.2.1", ts.addr, "ed", k.ed25519)
	if err != nil {
		t.Fatalf("allow-listed address after 5 failures: %v", err)
	}
	c.Close()
	if strings.Contains(ts.logs.String(), "address banned") {
		t.Errorf("an allow-listed address was banned")
	}
}

// TestDefender_UnauthCaps: connections that have not logged in are capped
// per address and in total; more are closed at accept, and other addresses
// still get in.
func TestDefender_UnauthCaps(t *testing.T) {
	k := keys(t)
	ts, _ := defended(t, defender.Config{IPFailures: 10, Window: time.Minute, BanTime: time.Minute,
		BanTimeMax: time.Hour, MaxUnauthPerIP: 3, MaxUnauth: 5})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	banner := func(nc net.Conn) string {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 7)
		n, _ := io.ReadFull(nc, b)
		return string(b[:n])
	}
	for i := range 4 {
		nc, err := dialFrom("127.0.3.1", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, nc)
		got, want := banner(nc), "SSH-2.0"
		if i == 3 {
			want = ""
		}
		if got != want {
			t.Errorf("silent connection %d from one address got %q; want %q", i+1, got, want)
		}
	}
	c, err := loginFrom(t, "127.0.3.2", ts.addr, "ed", k.ed25519)
	if err != nil {
		t.Fatalf("login from another address while one holds 3 silent connections: %v", err)
	}
	c.Close()
	// The login holds a handshake slot until its handshake is done: wait for
	// its disconnect, else the next newcomer would evict a silent
	// connection to take the slot the login still held.
	for deadline := time.Now().Add(5 * time.Second); !loggedDisconnect(ts.logs.String(), "user=ed"); {
		if time.Now().After(deadline) {
			t.Fatal("the login's disconnect was never logged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Total cap: 3 + 2 = 5. The server counts the login above as done a
	// moment after the client sees it succeed, so a refusal here is retried.
	for range 2 {
		for try := 0; ; try++ {
			nc, err := dialFrom("127.0.3.3", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, nc)
			if banner(nc) == "SSH-2.0" {
				break
			}
			if try == 50 {
				t.Fatal("a connection under the total cap was refused")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// At the total cap, an address holding its share is refused...
	nc, err := dialFrom("127.0.3.3", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := banner(nc); got != "" {
		t.Errorf("connection past the total cap from an address holding 2 got %q; want it closed", got)
	}
	// ...but a new address gets in, in place of the oldest connection of
	// the address holding the most.
	nc, err = dialFrom("127.0.3.4", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := banner(nc); got != "SSH-2.0" {
		t.Errorf("connection past the total cap from a new address got %q; want the banner", got)
	}
	held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(held[0]); err != nil {
		t.Errorf("the oldest connection of the address holding 3: %v; want it closed", err)
	}
}

// TestDefender_SessionsPerUser: a user past its session cap is refused until
// one of its sessions ends.
func TestDefender_SessionsPerUser(t *testing.T) {
	k := keys(t)
	ts, _ := defended(t, defender.Config{IPFailures: 10, Window: time.Minute, BanTime: time.Minute,
		BanTimeMax: time.Hour, MaxSessionsPerUser: 2})
	a := sshLogin(t, ts.addr, "ed", k.ed25519)
	sftpOn(t, a)
	sftpOn(t, sshLogin(t, ts.addr, "ed", k.ed25519))
	if sc, err := ssh.Dial("tcp", ts.addr, clientConfig(t, "ed", ssh.PublicKeys(k.ed25519))); err == nil {
		if !closedWithin(sc, 5*time.Second) {
			t.Errorf("a third session of the user stayed open")
		}
		sc.Close()
	}
	sftpOn(t, sshLogin(t, ts.addr, "ec", k.ecdsa)) // other users are not affected
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc, err := ssh.Dial("tcp", ts.addr, clientConfig(t, "ed", ssh.PublicKeys(k.ed25519)))
		if err == nil && !closedWithin(sc, 300*time.Millisecond) {
			sc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new session after one of two ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(ts.logs.String(), "too many sessions") {
		t.Errorf("no log line for the refused session")
	}
}

// waitCount waits until the server log holds substr n times.
func waitCount(t *testing.T, ts *testServer, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(ts.logs.String(), substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log holds %q %d times; want %d", substr, strings.Count(ts.logs.String(), substr), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loggedDisconnect reports whether log has a disconnect line with field.
func loggedDisconnect(log, field string) bool {
	for line := range strings.Lines(log) {
		if strings.Contains(line, "msg=disconnect") && strings.Contains(line, field) {
			return true
		}
	}
	return false
}
