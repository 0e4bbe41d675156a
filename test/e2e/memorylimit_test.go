package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_MemoryLimit: memory_limit = "200MiB" with the harness's 64 MiB of
// upload memory leaves room for 4 sessions, as check-config says; Go's soft
// limit is set from it; while 4 OpenSSH sessions are open a fifth client is
// told "server busy, try again later" (not a dropped connection), and once
// one closes the next upload goes through.
func TestE2E_MemoryLimit(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{server: "memory_limit = \"200MiB\"\nmemory_wait = \"1s\"\n", extra: "[admin]\nlisten = \"127.0.0.1:0\"\n"})

	out, err := exec.Command(binary, "check-config", "-config", g.config).CombinedOutput()
	if want := "memory limit 200MiB (server.memory_limit) = uploads 64MiB + read-ahead 20MiB + sessions 16MiB (4 × 4MiB) + base 48MiB + runtime 52MiB; Go soft limit 168MiB"; err != nil || !strings.Contains(string(out), want) {
		t.Errorf("check-config: %v\n%s\nwant the line %q", err, out, want)
	}
	mf := scrape(t, g.adminAddr(t))
	if got, want := value(mf, "go_gc_gomemlimit_bytes", nil), float64(168<<20); got != want {
		t.Errorf("got go_gc_gomemlimit_bytes = %v; want %v (the soft limit)", got, want)
	}
	if got, want := value(mf, "s3sftpd_memory_budget_bytes", map[string]string{"budget": "sessions"}), float64(16<<20); got != want {
		t.Errorf("got s3sftpd_memory_budget_bytes{budget=sessions} = %v; want %v", got, want)
	}

	var holders []io.WriteCloser
	for i := range 4 {
		args := append(g.sshOpts(clientKeys["ed25519"]), "-P", g.port, "-b", "-", "acme@127.0.0.1")
		cmd := exec.Command("sftp", args...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
		io.WriteString(stdin, "pwd\n")
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && !strings.Contains(sc.Text(), "Remote working directory") {
		}
		if sc.Err() != nil {
			t.Fatalf("session %d: %v", i+1, sc.Err())
		}
		holders = append(holders, stdin)
	}
	if got := value(scrape(t, g.adminAddr(t)), "s3sftpd_session_memory_bytes", nil); got != 16<<20 {
		t.Errorf("got s3sftpd_session_memory_bytes = %v with 4 sessions open; want %v", got, 16<<20)
	}

	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "up.bin"), 1<<20)
	// OpenSSH logs a refused channel at INFO, its default level (the harness's is ERROR)
	args := append([]string{"-o", "LogLevel=INFO"}, g.sshOpts(clientKeys["ed25519"])...)
	fifth := exec.Command("sftp", append(args, "-P", g.port, "-b", "-", "acme@127.0.0.1")...)
	fifth.Dir, fifth.Stdin = dir, strings.NewReader("put up.bin\n")
	out2b, err := fifth.CombinedOutput()
	out2 := string(out2b)
	if err == nil || !strings.Contains(out2, "server busy, try again later") {
		t.Errorf("a fifth client with 4 sessions open: err = %v, output:\n%s\nwant it refused with \"server busy, try again later\"", err, out2)
	}
	if got := value(scrape(t, g.adminAddr(t)), "s3sftpd_throttled_seconds_total", map[string]string{"reason": "session_memory"}); got < 1 {
		t.Errorf("got throttled seconds for session_memory = %v; want the second it waited", got)
	}

	holders[0].Close() // its sftp exits at the end of its batch
	waitFor(t, 30*time.Second, "a session's room to come back", func() bool {
		return value(scrape(t, g.adminAddr(t)), "s3sftpd_session_memory_bytes", nil) == 12<<20
	})
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put up.bin\n")
	wantObjects(t, s3srv, "partners/acme/", map[string][]byte{"partners/acme/up.bin": data})
}
