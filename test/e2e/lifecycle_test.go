package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// slowPut starts `sftp -b` uploading name at 40 Mbit/s and returns a channel
// with its result.
func (g *gateway) slowPut(t *testing.T, dir, name string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		out, err := g.sftp(t, dir, "acme", clientKeys["ed25519"], "put "+name+"\n", "-l", "40000")
		if err != nil {
			t.Logf("sftp: %v\n%s", err, out)
		}
		done <- err
	}()
	return done
}

// TestE2E_ShutdownDrains: SIGTERM lets an upload in flight finish within the
// drain period, refuses new connections, and then the server exits.
func TestE2E_ShutdownDrains(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{drain: "60s"})
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "f.bin"), 12<<20)
	done := g.slowPut(t, dir, "f.bin")
	waitFor(t, 20*time.Second, "the upload to start", func() bool { return len(s3srv.MultipartUploads(t)) > 0 })
	g.cmd.Process.Signal(os.Interrupt)
	waitFor(t, 5*time.Second, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", g.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if err := <-done; err != nil {
		t.Fatalf("upload in flight during shutdown failed: %v", err)
	}
	if got, _ := s3srv.Get(t, "partners/acme/f.bin"); !bytes.Equal(got, data) {
		t.Errorf("object after drained upload = %d bytes; want %d", len(got), len(data))
	}
	select {
	case err := <-g.done:
		g.done <- err
		if err != nil {
			t.Errorf("s3sftpd exit = %v; want 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("s3sftpd still running after its last transfer ended")
	}
}

// TestE2E_ShutdownAbortsAfterDrain: an upload still open when the drain period
// ends is aborted, never committed, and the client is told it failed.
func TestE2E_ShutdownAbortsAfterDrain(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{drain: "1s"})
	s3srv.Put(t, "partners/acme/f.bin", []byte("previous"))
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "f.bin"), 64<<20)
	done := g.slowPut(t, dir, "f.bin")
	waitFor(t, 20*time.Second, "the upload to start", func() bool { return len(s3srv.MultipartUploads(t)) > 0 })
	g.stop(t)
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("sftp -b exited 0 for an upload cut off by shutdown")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("sftp still running after the server stopped")
	}
	if got, _ := s3srv.Get(t, "partners/acme/f.bin"); string(got) != "previous" {
		t.Errorf("object = %d bytes; want the previous version", len(got))
	}
	if ups := s3srv.MultipartUploads(t); len(ups) != 0 {
		t.Errorf("multipart uploads left after shutdown: %v", ups)
	}
	if !strings.Contains(g.logs.String(), "drain timed out") {
		t.Errorf("log does not say the drain timed out")
	}
}

// TestE2E_EmbeddedExample runs config.example.toml as a newcomer would: the
// embedded store, host keys and a demo key pair are created on first start,
// the printed sftp command works, and files survive a restart.
func TestE2E_EmbeddedExample(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(example), `listen = "127.0.0.1:2022"`, `listen = "127.0.0.1:0"`, 1)
	if cfg == string(example) {
		t.Fatal("config.example.toml no longer listens on 127.0.0.1:2022; update this test")
	}
	cfgPath := filepath.Join(dir, "s3sftpd.toml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)

	run := func() (*exec.Cmd, string, *syncBuffer) {
		logs := &syncBuffer{}
		cmd := exec.Command(binary, "-config", cfgPath)
		cmd.Dir = dir
		cmd.Stderr = writerFunc(logs.WriteString)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var addr string
		waitFor(t, 20*time.Second, "the embedded server to listen", func() bool {
			m := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`).FindStringSubmatch(logs.String())
			if m != nil {
				addr = m[1]
			}
			return m != nil
		})
		return cmd, addr, logs
	}
	cmd, addr, logs := run()
	key := filepath.Join(dir, "data/demo/id_ed25519")
	for _, f := range []string{key, filepath.Join(dir, "data/hostkeys/ssh_host_ed25519_key"), filepath.Join(dir, "data/hostkeys/ssh_host_rsa_key")} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want a 0600 file", f, err, fi.Mode().Perm())
		}
	}
	waitFor(t, 10*time.Second, "the connect hint, printed once the server listens", func() bool {
		return strings.Contains(logs.String(), "Host keys (")
	})
	if !strings.Contains(logs.String(), "sftp -i ") || strings.Count(logs.String(), `"fingerprint":"SHA256:`) != 2 {
		t.Errorf("first start did not print the sftp command and both host key fingerprints:\n%s", logs.String())
	}
	g := &gateway{addr: addr, port: addr[strings.LastIndex(addr, ":")+1:]}
	work := t.TempDir()
	data := writeRandom(t, filepath.Join(work, "hello.bin"), 9<<20)
	g.mustSFTP(t, work, "demo", key, "mkdir in\nput hello.bin in/hello.bin\nls -l in\n")
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()

	cmd, addr, _ = run()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	g = &gateway{addr: addr, port: addr[strings.LastIndex(addr, ":")+1:]}
	g.mustSFTP(t, work, "demo", key, "get in/hello.bin back.bin\n")
	sameFile(t, filepath.Join(work, "back.bin"), data)
}

type writerFunc func(string)

func (f writerFunc) Write(p []byte) (int, error) { f(string(p)); return len(p), nil }

// TestCheckConfig runs the check-config subcommand as an admin would.
func TestCheckConfig(t *testing.T) {
	if out, err := exec.Command(binary, "check-config", "-config", "../../config.example.toml").CombinedOutput(); err != nil {
		t.Errorf("check-config of the example = %v; want exit 0:\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[server]\nlisten = \"127.0.0.1:2022\"\nreadble = true\n\n[s3]\nbucket = \"b\"\nsse = \"none\"\n\n[[users]]\nname = \"a\"\nhome = \"a\"\nkeys = [\"ssh-ed25519 nonsense\"]\n"), 0o600)
	out, err := exec.Command(binary, "check-config", "-config", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("check-config of a bad file: %v; want exit 1", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, want := range []string{`:3:1: unknown key "server.readble"`, `:7:1: s3.sse`, `:11:1: users[0].home: must end with "/"`, `:12:9: users[0].keys[0]: invalid public key`} {
		found := false
		for _, l := range lines {
			found = found || (strings.HasPrefix(l, bad+":") && strings.Contains(l, want))
		}
		if !found {
			t.Errorf("check-config output lacks %q:\n%s", want, out)
		}
	}
}

// TestE2E_AuditStartStop: the default config keeps an owner-only audit file
// next to it that records the server's start, with the SHA-256 of the config
// in force, and its stop, chained.
func TestE2E_AuditStartStop(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	g.stop(t)

	path := filepath.Join(filepath.Dir(g.config), "data", "audit", "audit.jsonl")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit file %s: %v, mode %v; want it with mode 0600", path, err, st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("audit file holds %d lines; want server_start and server_stop:\n%s", len(lines), data)
	}
	conf, _ := os.ReadFile(g.config)
	confSum := sha256.Sum256(conf)
	var start, stop struct {
		Seq    uint64
		Event  string
		Config string `json:"config_sha256"`
		Prev   string
	}
	json.Unmarshal([]byte(lines[0]), &start)
	json.Unmarshal([]byte(lines[1]), &stop)
	firstSum := sha256.Sum256([]byte(lines[0]))
	if start.Event != "server_start" || start.Seq != 1 || start.Config != hex.EncodeToString(confSum[:]) {
		t.Errorf("first record %s; want server_start, seq 1, config_sha256 of %s", lines[0], g.config)
	}
	if stop.Event != "server_stop" || stop.Seq != 2 || stop.Prev != hex.EncodeToString(firstSum[:]) {
		t.Errorf("second record %s; want server_stop, seq 2, chained to the first", lines[1])
	}
}
