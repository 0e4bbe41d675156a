package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestREADME_TryItConnectsAtOnce is the newcomer's first minute: in a fresh
// copy of the tree, the README's first command starts the server from
// config.example.toml, and the "Connect with:" command it prints works the
// moment it appears, with the host keys it prints next to it. It runs the
// binary the tests built rather than `go run` (the same program, without a
// second build), on a free port instead of 2022.
func TestREADME_TryItConnectsAtOnce(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const first = "GOTOOLCHAIN=auto go run ./cmd/s3sftpd -config config.example.toml"
	if !strings.Contains(string(readme), "\n"+first+" ") {
		t.Fatalf("the README's first command is no longer %q: update this test", first)
	}
	tree := freshCopy(t)
	example := filepath.Join(tree, "config.example.toml")
	cfg, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	listen := regexp.MustCompile(`(?m)^listen = "127\.0\.0\.1:2022"`)
	if !listen.Match(cfg) {
		t.Fatal(`config.example.toml no longer listens on "127.0.0.1:2022": update this test`)
	}
	if err := os.WriteFile(example, listen.ReplaceAll(cfg, []byte(`listen = "127.0.0.1:0"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tree, "hello.txt"), []byte("hello\n"), 0o644)

	for _, start := range []string{"first-start", "restart"} { // the hint comes again on every start
		t.Run(start, func(t *testing.T) {
			command, fingerprints := startTryIt(t, tree)
			args := strings.Fields(command)
			if len(args) < 2 || args[0] != "sftp" {
				t.Fatalf("printed command = %q; want an sftp command", command)
			}
			batch := filepath.Join(tree, "batch")
			os.WriteFile(batch, []byte("put hello.txt\nls -l\nrm hello.txt\n"), 0o644)
			args = append(append(args[1:len(args)-1:len(args)-1], "-b", batch), args[len(args)-1])
			cmd := exec.Command("sftp", args...)
			cmd.Dir = tree
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "hello.txt") {
				t.Fatalf("the printed command, run at once: %v\n%s", err, out)
			}
			known := knownHostKeys(t, filepath.Join(tree, "data", "demo", "known_hosts"))
			for _, k := range known {
				if fp := ssh.FingerprintSHA256(k); fingerprints[k.Type()] != fp {
					t.Errorf("printed host key for %s = %q; the server presented %s", k.Type(), fingerprints[k.Type()], fp)
				}
			}
			for _, typ := range []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSA} {
				if fingerprints[typ] == "" {
					t.Errorf("no %s host key printed; got %v", typ, fingerprints)
				}
			}
		})
	}
}

// freshCopy copies the files git tracks, as they are in the work tree, into
// a new directory: a fresh clone without its history.
func freshCopy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", "../..", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files (the test needs a git checkout): %v", err)
	}
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join("../..", name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// startTryIt runs the server in tree as the README says and returns, as
// soon as it prints them, the connect command and the host key
// fingerprints by key type.
func startTryIt(t *testing.T, tree string) (command string, fingerprints map[string]string) {
	t.Helper()
	cmd := exec.Command(binary, "-config", "config.example.toml")
	cmd.Dir = tree
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if t.Failed() {
			t.Logf("s3sftpd output:\n%s", logs.String())
		}
	})
	type hint struct {
		command      string
		fingerprints map[string]string
	}
	hints := make(chan hint, 1)
	go func() {
		defer close(done)
		defer cmd.Wait()
		sc := bufio.NewScanner(stderr)
		var h hint
		state := ""
		for sc.Scan() {
			line := sc.Text()
			logs.WriteString(line + "\n")
			switch {
			case line == "Connect with:":
				state = "command"
			case state == "command" && strings.HasPrefix(line, "  sftp "):
				h.command, state = strings.TrimSpace(line), ""
			case strings.HasPrefix(line, "Host keys"):
				state, h.fingerprints = "keys", map[string]string{}
			case state == "keys" && strings.HasPrefix(line, "  "):
				if f := strings.Fields(line); len(f) == 2 {
					h.fingerprints[f[0]] = f[1]
				}
			case state == "keys":
				hints <- h
				state = ""
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case h := <-hints:
		return h.command, h.fingerprints
	case <-done:
		t.Fatalf("s3sftpd exited before printing how to connect:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("s3sftpd printed no connect command within 60s:\n%s", logs.String())
	}
	return "", nil
}

// knownHostKeys reads the host keys of an OpenSSH known_hosts file.
func knownHostKeys(t *testing.T, path string) []ssh.PublicKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("known_hosts written by sftp: %v", err)
	}
	var keys []ssh.PublicKey
	for len(data) > 0 {
		_, _, key, _, rest, err := ssh.ParseKnownHosts(data)
		if err != nil {
			break
		}
		keys = append(keys, key)
		data = rest
	}
	if len(keys) == 0 {
		t.Fatalf("no host key in %s", path)
	}
	return keys
}
