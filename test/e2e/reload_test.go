package e2e

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// openSession starts `sftp -b -` whose batch comes from the returned pipe:
// the session stays open until the pipe is closed.
func (g *gateway) openSession(t *testing.T, dir, user, key string) (io.WriteCloser, *exec.Cmd, *strings.Builder) {
	t.Helper()
	args := append(g.sshOpts(key), "-P", g.port, "-b", "-", user+"@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Dir = dir
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return in, cmd, out
}

// TestE2E_Reload edits the config under a running gateway: a removed key
// loses its open session at once, other sessions go on, a new user can log
// in, settings that need a restart say so, a broken config is refused with
// check-config's errors and the one in force stays, and SIGHUP reloads too.
// The audit trail records every reload with what changed.
func TestE2E_Reload(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "f.csv"), 1000)
	revokedIn, revoked, revokedOut := g.openSession(t, dir, "acme", clientKeys["ecdsa"])
	keptIn, kept, keptOut := g.openSession(t, dir, "acme2", clientKeys["ed25519"])
	waitFor(t, 10*time.Second, "both sessions to log in", func() bool { return strings.Count(g.logs.String(), `"msg":"login"`) == 2 })

	g.rewrite(t, func(o *gatewayOpts) {
		o.users[0].keys = slices.DeleteFunc(o.users[0].keys, func(k string) bool { return k == pubKey(t, "ecdsa") })
		o.users = append(o.users, testUser{name: "newbie", home: "partners/newbie/", keys: []string{pubKey(t, "other")}})
		o.checksums = "aws"
	})
	waitFor(t, 5*time.Second, "the reload", func() bool { return strings.Contains(g.logs.String(), `"msg":"config reloaded"`) })

	fmt.Fprintln(revokedIn, "put f.csv")
	revokedIn.Close()
	if err := revoked.Wait(); err == nil {
		t.Errorf("the session of the removed key could still upload:\n%s", revokedOut)
	}
	fmt.Fprintln(keptIn, "put f.csv")
	keptIn.Close()
	if err := kept.Wait(); err != nil {
		t.Errorf("an unchanged user's session was broken by the reload: %v\n%s", err, keptOut)
	}
	if _, ok := s3srv.Get(t, "partners/acme2/f.csv"); !ok {
		t.Errorf("the kept session's upload is not in S3")
	}
	if _, ok := s3srv.Get(t, "partners/acme/f.csv"); ok {
		t.Errorf("the revoked session's upload reached S3")
	}
	if out, err := g.sftp(t, dir, "acme", clientKeys["ecdsa"], "ls\n"); err == nil {
		t.Errorf("the removed key still logs in:\n%s", out)
	}
	g.mustSFTP(t, dir, "newbie", clientKeys["other"], "put f.csv\n")

	// A broken config is refused whole; the one in force stays.
	g.writeConfig(t, configText(filepath.Dir(g.config), s3srv, g.opts)+"[[users]]\nname = \"typo\"\nhome = \"partners/typo/\"\nkeys = []\nreadble = true\n")
	waitFor(t, 5*time.Second, "the refusal", func() bool { return strings.Contains(g.logs.String(), "config reload refused") })
	if !regexp.MustCompile(`s3sftpd\.toml:\d+:\d+: unknown key \\"users\.readble\\"`).MatchString(g.logs.String()) {
		t.Errorf("the refusal does not give check-config's FILE:LINE:COL errors:\n%s", g.logs.String())
	}
	g.mustSFTP(t, dir, "newbie", clientKeys["other"], "ls\n")

	// SIGHUP reloads even when nothing changed on disk.
	g.rewrite(t, func(*gatewayOpts) {})
	waitFor(t, 5*time.Second, "the fixed config", func() bool { return strings.Count(g.logs.String(), `"msg":"config reloaded"`) == 2 })
	g.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "the SIGHUP reload", func() bool { return strings.Contains(g.logs.String(), `"trigger":"SIGHUP"`) })
	g.stop(t)

	recs := readTrail(t, g.auditFile())
	reloads := find(recs, func(r audit.Record) bool { return r.Event == audit.EventReload })
	if len(reloads) != 4 {
		t.Fatalf("%d reload records; want 4 (change, refusal, fix, SIGHUP): %+v", len(reloads), reloads)
	}
	ecdsaFP := toolOutput(t, 1, "ssh-keygen", "-lf", clientKeys["ecdsa"]+".pub")
	wantChanges := []string{
		"user acme: key " + ecdsaFP + " removed",
		"user newbie added with 1 key(s)",
		"[s3] changed: takes effect after a restart",
	}
	first := reloads[0]
	if first.Result != audit.ResultOK || first.Reason != "config file changed" || !slices.Equal(first.Changes, wantChanges) || first.ConfigHash == "" {
		t.Errorf("first reload record %+v; want ok, config file changed, changes %q and the config's hash", first, wantChanges)
	}
	if r := reloads[1]; r.Result != audit.ResultError || !strings.Contains(r.Error, `unknown key "users.readble"`) {
		t.Errorf("refused reload record %+v; want error naming the unknown key", r)
	}
	if r := reloads[3]; r.Result != audit.ResultOK || r.Reason != "SIGHUP" || len(r.Changes) != 0 {
		t.Errorf("SIGHUP reload record %+v; want ok, SIGHUP, no changes", r)
	}
	cut := find(recs, func(r audit.Record) bool {
		return r.Event == audit.EventDisconnect && strings.HasPrefix(r.Reason, "revoked: the user or key was removed")
	})
	if len(cut) != 1 || cut[0].User != "acme" {
		t.Fatalf("disconnects for revoked keys: %+v; want acme's one session", cut)
	}
	if lag := cut[0].Time.Sub(first.Time.Time); lag > time.Second {
		t.Errorf("the revoked session ended %v after the reload; want within 1s", lag)
	}
}
