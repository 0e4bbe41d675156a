package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// startHAProxy runs Debian's haproxy in front of the backends with PROXY
// protocol v2 (health checks included) and returns its address.
func startHAProxy(t *testing.T, backends ...string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil { // Debian puts it in /usr/sbin, which a user's PATH may lack
		bin, err = exec.LookPath("/usr/sbin/haproxy")
	}
	if err != nil {
		if os.Getenv("S3SFTPD_NO_HAPROXY") != "" {
			t.Skip("haproxy not installed (S3SFTPD_NO_HAPROXY set)")
		}
		t.Fatalf("haproxy not found: apt-get install haproxy (scripts/test does as root)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
  maxconn 1000
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend sftp
  bind %s
  default_backend gateways
backend gateways
  balance roundrobin
`, addr)
	for i, b := range backends {
		fmt.Fprintf(&cfg, "  server gw%d %s send-proxy-v2 check check-send-proxy inter 200ms fall 1 rise 2\n", i, b)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	waitFor(t, 10*time.Second, "haproxy listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// trailLines reads the audit records of a trail, skipping a line cut off
// by a killed process.
func trailLines(t *testing.T, path string) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	for _, line := range strings.Split(string(data), "\n") {
		var r audit.Record
		if json.Unmarshal([]byte(line), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}

// TestE2E_ScaleOut runs two gateways behind haproxy (PROXY v2), sends 50
// OpenSSH clients through it from 127.0.0.2, kills one gateway mid-run,
// and checks that every client either completed with its exact bytes
// stored or got an error with nothing partial stored, and that the audit
// trails name the clients' address, not the proxy's.
func TestE2E_ScaleOut(t *testing.T) {
	s3srv := s3test.Start(t)
	opts := gatewayOpts{server: "proxy_protocol = true\ntrusted_proxies = [\"127.0.0.1\"]\n"}
	g1 := startGateway(t, s3srv, opts)
	g2 := startGateway(t, s3srv, opts)
	lb := startHAProxy(t, g1.addr, g2.addr)
	_, lbPort, _ := net.SplitHostPort(lb)

	const clients, size = 50, 512 << 10
	dir := t.TempDir()
	type result struct {
		data []byte
		err  error
		out  string
	}
	results := make([]result, clients)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		name := fmt.Sprintf("c%02d.bin", i)
		results[i].data = writeRandom(t, filepath.Join(dir, name), size)
		wg.Go(func() {
			<-start
			// 2 Mbit/s: each upload takes about 2 s, so the kill lands mid-transfer.
			args := append(g1.sshOpts(clientKeys["ed25519"]), "-b", "-", "-l", "2000", "-P", lbPort,
				"-o", "BindAddress=127.0.0.2", "acme@127.0.0.1")
			cmd := exec.Command("sftp", args...)
			cmd.Dir = dir
			cmd.Stdin = strings.NewReader("put " + name + "\n")
			out, err := cmd.CombinedOutput()
			results[i].err, results[i].out = err, string(out)
		})
	}
	close(start)
	time.Sleep(1500 * time.Millisecond)
	g1.cmd.Process.Kill() // SIGKILL: no drain, no goodbye
	wg.Wait()

	ok, failed := 0, 0
	for i, r := range results {
		key := fmt.Sprintf("partners/acme/c%02d.bin", i)
		stored, exists := s3srv.Get(t, key)
		switch {
		case r.err == nil:
			ok++
			if !bytes.Equal(stored, r.data) {
				t.Errorf("client %d succeeded but S3 holds %d bytes of %d", i, len(stored), len(r.data))
			}
		default:
			failed++
			// A clean error: nothing partial. (The gateway may have committed
			// just before it died, so the whole file is allowed.)
			if exists && !bytes.Equal(stored, r.data) {
				t.Errorf("client %d failed and S3 holds a partial object (%d of %d bytes)", i, len(stored), len(r.data))
			}
		}
	}
	t.Logf("%d clients completed, %d got an error when one of two gateways was killed", ok, failed)
	if ok == 0 {
		t.Errorf("no client completed: the surviving gateway served nobody")
	}
	if failed == 0 {
		t.Logf("the kill landed after every transfer on the killed gateway had ended")
	}
	if n := len(s3srv.MultipartUploads(t)); n > 0 {
		t.Logf("%d multipart uploads of the killed gateway left for the orphan sweep", n)
	}

	// New clients after the kill all reach the survivor.
	name := "after.bin"
	data := writeRandom(t, filepath.Join(dir, name), 1000)
	args := append(g2.sshOpts(clientKeys["ed25519"]), "-b", "-", "-P", lbPort, "-o", "BindAddress=127.0.0.2", "acme@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Dir, cmd.Stdin = dir, strings.NewReader("put "+name+"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("a client after the kill failed: %v\n%s", err, out)
	} else if got, _ := s3srv.Get(t, "partners/acme/"+name); !bytes.Equal(got, data) {
		t.Errorf("after the kill: S3 holds %d bytes; want %d", len(got), len(data))
	}

	// haproxy's health checks (a LOCAL header every 200 ms) leave no trace.
	if n := strings.Count(g2.logs.String(), `"msg":"handshake failed"`); n > 0 {
		t.Errorf("the surviving gateway logged %d failed handshakes; health checks must be closed silently", n)
	}

	// Every connect record names a client (127.0.0.2), never haproxy (127.0.0.1).
	connects := 0
	for _, g := range []*gateway{g1, g2} {
		for _, r := range trailLines(t, g.auditFile()) {
			if r.Event != audit.EventConnect {
				continue
			}
			connects++
			if !strings.HasPrefix(r.Remote, "127.0.0.2:") {
				t.Errorf("connect record with remote %q; want the client's 127.0.0.2", r.Remote)
			}
		}
	}
	// A client whose connection reached the killed gateway before it sent
	// its SSH version leaves no record, so only the completed ones count.
	if connects < ok+1 {
		t.Errorf("%d connect records across both trails; want at least %d (every completed client, and the one after the kill)", connects, ok+1)
	}
}
