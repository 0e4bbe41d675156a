package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// binary is the s3sftpd executable built once for the end-to-end tests.
var binary string

// clientKeys are OpenSSH private key files made by ssh-keygen, by type.
var clientKeys = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3sftpd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "s3sftpd")
		args := []string{"build", "-o", binary}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, "github.com/s3sftpd/s3sftpd/cmd/s3sftpd")...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build s3sftpd: %v\n%s", err, out)
			return 1
		}
		for _, kt := range []struct{ name, args string }{{"ed25519", "-t ed25519"}, {"ecdsa", "-t ecdsa -b 256"}, {"rsa", "-t rsa -b 3072"}, {"other", "-t ed25519"}} {
			path := filepath.Join(dir, "id_"+kt.name)
			args := append(strings.Fields(kt.args), "-N", "", "-q", "-C", "e2e-"+kt.name, "-f", path)
			if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "ssh-keygen (install openssh-client): %v\n%s", err, out)
				return 1
			}
			clientKeys[kt.name] = path
		}
		return m.Run()
	}()
	os.Exit(code)
}

func pubKey(t *testing.T, kind string) string {
	t.Helper()
	b, err := os.ReadFile(clientKeys[kind] + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// gateway is a running s3sftpd process.
type gateway struct {
	addr, port string
	config     string // path of the generated config
	opts       gatewayOpts
	cmd        *exec.Cmd
	logs       *syncBuffer
	done       chan error
	s3         *s3test.Server
}

// testUser is a [[users]] entry of the generated config.
type testUser struct {
	name, home, perms string // perms: a TOML array, or "" for all
	keys              []string
	extra             string // more lines for the table
}

type gatewayOpts struct {
	checksums string
	drain     string
	users     []testUser
	endpoint  string // "embedded" to use the embedded store
	audit     string // lines for the [audit] table, if set
	s3        string // more lines for the [s3] table (not with the embedded store)
	extra     string // more tables, at the end of the config
	server    string // more lines for the [server] table
	enc       string // lines for the [encryption] table, if set

	env []string // more environment for the process (later entries win)
}

// defaultUsers: acme (all permissions, every key type), a second staff key on
// the same home, a write-only drop box and a neighbour whose prefix starts
// with acme's name.
func defaultUsers(t *testing.T) []testUser {
	return []testUser{
		{name: "acme", home: "partners/acme/", keys: []string{pubKey(t, "ed25519"), pubKey(t, "ecdsa"), pubKey(t, "rsa")}},
		{name: "acme-staff", home: "partners/acme/", keys: []string{pubKey(t, "other")}},
		{name: "drop", home: "partners/drop/", perms: `["write"]`, keys: []string{pubKey(t, "ed25519")}},
		{name: "acme2", home: "partners/acme2/", keys: []string{pubKey(t, "ed25519")}},
	}
}

// startGateway writes a config for s3srv and runs s3sftpd serve on it.
func startGateway(t *testing.T, s3srv *s3test.Server, o gatewayOpts) *gateway {
	t.Helper()
	if o.checksums == "" {
		o.checksums = "compat"
	}
	if o.drain == "" {
		o.drain = "5s"
	}
	if o.users == nil {
		o.users = defaultUsers(t)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "s3sftpd.toml")
	if err := os.WriteFile(path, []byte(configText(dir, s3srv, o)), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{logs: &syncBuffer{}, done: make(chan error, 1), s3: s3srv, config: path, opts: o}
	g.cmd = exec.Command(binary, "serve", "-config", path)
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if s3srv != nil {
		g.cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3srv.SecretKey,
			"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	}
	if len(o.env) > 0 {
		if g.cmd.Env == nil {
			g.cmd.Env = os.Environ()
		}
		g.cmd.Env = append(g.cmd.Env, o.env...)
	}
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			g.logs.WriteString(line + "\n")
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				listening <- rec.Addr
			}
		}
		g.done <- g.cmd.Wait()
	}()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-g.done
		if strings.Contains(g.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector found a race in s3sftpd")
		}
		if t.Failed() {
			t.Logf("s3sftpd log:\n%s", g.logs.String())
		}
	})
	select {
	case g.addr = <-listening:
		g.port = g.addr[strings.LastIndex(g.addr, ":")+1:]
	case err := <-g.done:
		g.done <- err // for the cleanup's wait
		t.Fatalf("s3sftpd exited: %v\n%s", err, g.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("s3sftpd did not start:\n%s", g.logs.String())
	}
	return g
}

// auditFile is where the gateway writes its audit trail: the default
// [audit] file, relative to the config.
func (g *gateway) auditFile() string {
	return filepath.Join(filepath.Dir(g.config), "data", "audit", "audit.jsonl")
}

// configText is the config startGateway writes for s3srv (nil with the
// embedded store), with everything under dir.
func configText(dir string, s3srv *s3test.Server, o gatewayOpts) string {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\nhost_key_dir = %q\ndrain_timeout = %q\nidle_timeout = \"1m\"\n%s\n", filepath.Join(dir, "hostkeys"), o.drain, o.server)
	if o.endpoint == "embedded" {
		fmt.Fprintf(&cfg, "[s3]\nendpoint = \"embedded\"\nbucket = \"e2e\"\npart_size = \"5MiB\"\nupload_memory = \"64MiB\"\n\n[embedded]\ndir = %q\n\n", filepath.Join(dir, "s3"))
	} else {
		fmt.Fprintf(&cfg, "[s3]\nendpoint = %q\nregion = %q\nbucket = %q\npath_style = true\nchecksums = %q\npart_size = \"5MiB\"\nupload_memory = \"64MiB\"\n%s\n",
			s3srv.Endpoint, s3srv.Region, s3srv.Bucket, o.checksums, o.s3)
	}
	if o.audit != "" {
		fmt.Fprintf(&cfg, "[audit]\n%s\n\n", o.audit)
	}
	if o.enc != "" {
		fmt.Fprintf(&cfg, "[encryption]\n%s\n\n", o.enc)
	}
	for _, u := range o.users {
		fmt.Fprintf(&cfg, "[[users]]\nname = %q\n", u.name)
		if u.home != "" { // none: a user of folders only
			fmt.Fprintf(&cfg, "home = %q\n", u.home)
		}
		cfg.WriteString("keys = [")
		for i, k := range u.keys {
			if i > 0 {
				cfg.WriteString(", ")
			}
			fmt.Fprintf(&cfg, "%q", k)
		}
		cfg.WriteString("]\n")
		if u.perms != "" {
			fmt.Fprintf(&cfg, "permissions = %s\n", u.perms)
		}
		cfg.WriteString(u.extra)
		cfg.WriteString("\n")
	}
	cfg.WriteString(o.extra)
	return cfg.String()
}

// rewrite edits the gateway's config file as an admin's tool would: the new
// file replaces the old one whole (written aside, then renamed).
func (g *gateway) rewrite(t *testing.T, edit func(*gatewayOpts)) {
	t.Helper()
	edit(&g.opts)
	g.writeConfig(t, configText(filepath.Dir(g.config), g.s3, g.opts))
}

func (g *gateway) writeConfig(t *testing.T, text string) {
	t.Helper()
	tmp := g.config + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, g.config); err != nil {
		t.Fatal(err)
	}
}

// stop sends SIGTERM and waits for the process to exit.
func (g *gateway) stop(t *testing.T) {
	t.Helper()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.done <- err
	case <-time.After(60 * time.Second):
		t.Fatalf("s3sftpd did not stop after SIGTERM")
	}
}

// sshOpts are the client options every test uses: no host key prompts, keys only.
func (g *gateway) sshOpts(key string) []string {
	return []string{"-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"}
}

// sftp runs OpenSSH `sftp -b -` with the batch commands in dir and returns its
// combined output and error (non-nil when sftp exited non-zero).
func (g *gateway) sftp(t *testing.T, dir, user, key string, batch string, extra ...string) (string, error) {
	t.Helper()
	args := append(g.sshOpts(key), "-P", g.port, "-b", "-")
	args = append(append(args, extra...), user+"@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(batch)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustSFTP is sftp that fails the test when the batch fails.
func (g *gateway) mustSFTP(t *testing.T, dir, user, key, batch string) string {
	t.Helper()
	out, err := g.sftp(t, dir, user, key, batch)
	if err != nil {
		t.Fatalf("sftp batch failed: %v\n--- batch:\n%s--- output:\n%s", err, batch, out)
	}
	return out
}

// scp runs OpenSSH scp (SFTP mode) with extra arguments.
func (g *gateway) scp(t *testing.T, dir, key string, args ...string) (string, error) {
	t.Helper()
	all := append(g.sshOpts(key), "-P", g.port)
	cmd := exec.Command("scp", append(all, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeRandom(t *testing.T, path string, size int64) []byte {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, differing from the %d bytes expected", path, len(got), len(want))
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
