package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_OpenHandlesStarveNoOne: one partner (paramiko) holds 64 files
// open with one byte written to each, the most a session may open, and its
// 65th open is refused; meanwhile another partner's 6 MiB OpenSSH upload
// goes through. Before, each of those handles reserved a whole part of
// upload_memory and the other partner's upload hung as long as they stayed
// open.
func TestE2E_OpenHandlesStarveNoOne(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{extra: "[admin]\nlisten = \"127.0.0.1:0\"\n"})
	script, err := filepath.Abs("testdata/paramiko_idle_handles.py")
	if err != nil {
		t.Fatal(err)
	}
	hold := exec.Command("/usr/bin/python3", script, "127.0.0.1", g.port, "acme", clientKeys["ed25519"], g.knownHosts(t), "65")
	stdin, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	hold.Stderr = &stderr
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); hold.Process.Kill(); hold.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var refused, ready string
	timeout := time.After(60 * time.Second)
wait:
	for ready == "" {
		select {
		case line, ok := <-lines:
			switch {
			case !ok:
				t.Fatalf("paramiko exited before holding its files:\n%s", stderr.String())
			case strings.HasPrefix(line, "refused"):
				refused = line
			case strings.HasPrefix(line, "ready"):
				ready = line
			}
		case <-timeout: // the victim's upload is tried all the same
			t.Error("paramiko's 1-byte writes to its open files still unanswered after 60s")
			break wait
		}
	}
	if ready != "ready 64" {
		t.Errorf("paramiko: %q; want it to hold 64 files", ready)
	}
	if want := "refused 64 open refused: this session already has 64 files open, the most allowed; close some first"; refused != want {
		t.Errorf("paramiko's 65th open: %q; want %q", refused, want)
	}
	// 64 × 32 KiB, the first step of a part buffer (the harness's parts are 5 MiB)
	held := value(scrape(t, g.adminAddr(t)), "s3sftpd_upload_memory_bytes", nil)
	if held < 0 || held > 64*32<<10 {
		t.Errorf("64 files with one byte each hold %v bytes of upload memory; want at most 2 MiB", held)
	}
	t.Logf("64 files with one byte each hold %v bytes of upload memory", held)

	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "six.bin"), 6<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append(g.sshOpts(clientKeys["ed25519"]), "-P", g.port, "-b", "-", "acme2@127.0.0.1")
	put := exec.CommandContext(ctx, "sftp", args...)
	put.Dir, put.Stdin = dir, strings.NewReader("put six.bin\n")
	// at the timeout, kill sftp and its ssh, which holds the output open
	put.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	put.Cancel = func() error { return syscall.Kill(-put.Process.Pid, syscall.SIGKILL) }
	put.WaitDelay = 5 * time.Second
	out, err := put.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("acme2's 6 MiB upload still running after 60s while acme holds 64 files open:\n%s", out)
	}
	if err != nil {
		t.Fatalf("acme2's upload: %v\n%s", err, out)
	}
	wantObjects(t, s3srv, "partners/acme2/", map[string][]byte{"partners/acme2/six.bin": data})
}
