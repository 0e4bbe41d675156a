package e2e

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// rssKiB reads a line ("VmRSS", "VmHWM") of /proc/PID/status, in KiB.
func rssKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s in /proc/%d/status: %v", field, pid, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// holdHandles runs testdata/paramiko_hold.py as user with args (MODE PATH
// HANDLES ...) and returns once it holds them all; they stay open until the
// test ends (or the returned process is killed).
func holdHandles(t *testing.T, g *gateway, user, key string, args ...string) *exec.Cmd {
	t.Helper()
	script, err := filepath.Abs("testdata/paramiko_hold.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", append([]string{script, "127.0.0.1", g.port, user, key, g.knownHosts(t)}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start paramiko: %v (install python3-paramiko)", err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line == "ready\n"
		io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("paramiko %s: did not get its handles:\n%s", strings.Join(args, " "), stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("paramiko %s: not ready after 60s:\n%s", strings.Join(args, " "), stderr.String())
	}
	return cmd
}

// TestE2E_IdleReadHandlesBoundMemory: the review's 50 read handles that read
// 1 byte each took the gateway from 47 MB to 519 MB; now they hold no
// read-ahead, and 50 handles that do read in sequence hold at most their
// user's share. Meanwhile another partner's download completes intact.
func TestE2E_IdleReadHandlesBoundMemory(t *testing.T) {
	s3srv := s3test.Start(t)
	data := make([]byte, 32<<20)
	rand.Read(data)
	s3srv.Put(t, "partners/acme/big.bin", data)
	s3srv.Put(t, "partners/acme2/big.bin", data)
	for _, tc := range []struct {
		name      string
		reads     string // reads per handle
		growthMiB int64  // bound on the RSS growth
	}{
		// Bounds: 50 handles once streamed 9 MiB each (450 MiB). What is
		// left is the sessions' own buffers (and, with -race, shadow memory).
		{"one-read-each", "1", 48},
		{"two-reads-in-sequence", "2", 48 + 2*32}, // + read_ahead_memory_per_user, which Go's GC lets take twice its size
	} {
		t.Run(tc.name, func(t *testing.T) {
			users := defaultUsers(t)
			users[0].extra = "read_ahead_memory_per_user = \"32MiB\"\n"
			g := startGateway(t, s3srv, gatewayOpts{users: users})
			dir := t.TempDir()
			g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "ls\n") // a first session: the S3 client, the sftp server's buffers
			pid := g.cmd.Process.Pid
			before := rssKiB(t, pid, "VmRSS")

			holdHandles(t, g, "acme", clientKeys["ed25519"], "read", "big.bin", "50", tc.reads, "1")
			time.Sleep(time.Second) // a stream, if one started, fills its read-ahead now
			grown := (rssKiB(t, pid, "VmRSS") - before) >> 10
			t.Logf("50 handles with %s read(s) of 1 byte: RSS grew by %d MiB", tc.reads, grown)
			bound := tc.growthMiB
			if raceEnabled {
				bound *= 2 // the race detector's shadow memory
			}
			if grown > bound {
				t.Errorf("50 held read handles grew the gateway's RSS by %d MiB; want at most %d", grown, bound)
			}

			g.mustSFTP(t, dir, "acme2", clientKeys["ed25519"], "get big.bin back.bin\n")
			sameFile(t, filepath.Join(dir, "back.bin"), data)
		})
	}
}

// TestE2E_DownloadBandwidthCap: with max_download_mbps = 8, OpenSSH's
// download of 16 MiB takes at least 1.5 s (2.1 s at the cap); a user
// without a cap is never throttled, as /metrics shows.
func TestE2E_DownloadBandwidthCap(t *testing.T) {
	s3srv := s3test.Start(t)
	data := make([]byte, 16<<20)
	rand.Read(data)
	s3srv.Put(t, "partners/acme/big.bin", data)
	s3srv.Put(t, "partners/acme2/big.bin", data)
	users := defaultUsers(t)
	users[0].extra = "max_download_mbps = 8\n"
	g := startGateway(t, s3srv, gatewayOpts{users: users, extra: "[admin]\nlisten = \"127.0.0.1:0\"\n"})
	addr := g.adminAddr(t)
	dir := t.TempDir()
	throttled := func() float64 {
		return value(scrape(t, addr), "s3sftpd_throttled_seconds_total", map[string]string{"reason": "download_bandwidth"})
	}

	g.mustSFTP(t, dir, "acme2", clientKeys["ed25519"], "get big.bin free.bin\n")
	sameFile(t, filepath.Join(dir, "free.bin"), data)
	if got := throttled(); got > 0 {
		t.Errorf("a user without a cap was throttled for %vs; want 0", got)
	}

	start := time.Now()
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "get big.bin capped.bin\n")
	elapsed := time.Since(start)
	sameFile(t, filepath.Join(dir, "capped.bin"), data)
	if elapsed < 1500*time.Millisecond {
		t.Errorf("16 MiB at max_download_mbps = 8 took %v; want at least 1.5s", elapsed)
	}
	if got := throttled(); got < 1 {
		t.Errorf("s3sftpd_throttled_seconds_total{reason=\"download_bandwidth\"} = %v after a capped download; want at least 1", got)
	}
}

// TestE2E_ShutdownWithSlowReaders: a partner holding 50 read handles that
// read slowly does not keep the gateway from shutting down, nor does S3
// going away at the same moment.
func TestE2E_ShutdownWithSlowReaders(t *testing.T) {
	s3srv := s3test.Start(t)
	data := make([]byte, 32<<20)
	rand.Read(data)
	s3srv.Put(t, "partners/acme/big.bin", data)
	g := startGateway(t, s3srv, gatewayOpts{drain: "2s"})
	attacker := holdHandles(t, g, "acme", clientKeys["ed25519"], "read", "big.bin", "50", "2", "32768", "1")
	time.Sleep(1500 * time.Millisecond)
	s3srv.Stop()
	g.cmd.Process.Signal(syscall.SIGTERM)
	attacker.Process.Kill()
	g.stop(t)
}
