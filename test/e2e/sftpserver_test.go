package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// Where S3 allows it, the gateway behaves as OpenSSH's sftp-server does:
// these tests drive real clients against versitygw.

// rclone runs rclone's sftp backend as acme with the host keys pinned.
func rclone(t *testing.T, g *gateway) func(args ...string) (string, error) {
	dir := t.TempDir()
	env := []string{"TZ=UTC", "RCLONE_CONFIG_GW_TYPE=sftp", "RCLONE_CONFIG_GW_HOST=127.0.0.1", "RCLONE_CONFIG_GW_PORT=" + g.port,
		"RCLONE_CONFIG_GW_USER=acme", "RCLONE_CONFIG_GW_KEY_FILE=" + clientKeys["ed25519"],
		"RCLONE_CONFIG_GW_KNOWN_HOSTS_FILE=" + g.knownHosts(t), "RCLONE_CONFIG=" + filepath.Join(dir, "rclone.conf")}
	return func(args ...string) (string, error) {
		return runClient(dir, env, "rclone", append([]string{"--retries", "1", "--low-level-retries", "1"}, args...)...)
	}
}

// lsdTime is the time `rclone lsd` shows for directory name.
func lsdTime(t *testing.T, out, name string) time.Time {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*-1 (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+-1 ` + regexp.QuoteMeta(name) + `$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rclone lsd does not show directory %s:\n%s", name, out)
	}
	tm, err := time.Parse(time.DateTime, m[1])
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestClients_DirectoryTimes: a directory shows the time of its mkdir, and
// a time set on it is kept, in rclone's listings and paramiko's stat, also
// through a gateway started afterwards.
func TestClients_DirectoryTimes(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	rc, pm := rclone(t, g), paramikoOp(t, g)
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}

	made := time.Now().UTC()
	must(rc("mkdir", "gw:dirs/made"))
	if got := lsdTime(t, must(rc("lsd", "gw:dirs")), "made"); got.Sub(made).Abs() > time.Minute {
		t.Errorf("rclone lsd shows dirs/made made at %v; want its mkdir time, about %v", got, made)
	}
	must(rc("touch", "-t", "2001-02-03T04:05:06", "gw:dirs/made/f.txt"))
	if out := must(rc("lsl", "gw:dirs")); !strings.Contains(out, "2001-02-03 04:05:06.000000000 made/f.txt") {
		t.Errorf("rclone lsl does not show made/f.txt with the time touched:\n%s", out)
	}

	const set = "981173106" // 2001-02-03 04:05:06 UTC
	must(pm("utime", "dirs/made", set))
	if out := must(pm("stat", "dirs/made")); !strings.HasPrefix(out, "0 "+set+" 40755") {
		t.Errorf("paramiko stat of dirs/made = %q; want the time set on it and a directory", out)
	}
	if got := lsdTime(t, must(rc("lsd", "gw:dirs")), "made"); got.Format(time.DateTime) != "2001-02-03 04:05:06" {
		t.Errorf("rclone lsd shows dirs/made with %v; want the time set on it", got)
	}
	if _, ok := s3srv.Get(t, "partners/acme/dirs/made/"); !ok {
		t.Errorf("the directory has no marker to keep its time on")
	}

	g2 := startGateway(t, s3srv, gatewayOpts{}) // another gateway, or this one restarted
	if out := must(paramikoOp(t, g2)("stat", "dirs/made")); !strings.HasPrefix(out, "0 "+set+" ") {
		t.Errorf("another gateway's stat of dirs/made = %q; want the time kept on the marker", out)
	}
}

// TestClients_MissingFileAndSize: a missing file is "No such file" for the
// partner and no error in the server log; a size set on a stored file
// empties it (0) or is refused, never silently ignored.
func TestClients_MissingFileAndSize(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	pm := paramikoOp(t, g)
	dir := t.TempDir()
	started := len(g.logs.String()) // start-up logs compliance FAILs of the test bucket as errors

	out, err := pm("stat", "missing.txt")
	if err == nil || !strings.Contains(out, "No such file") {
		t.Errorf("paramiko stat of a missing file: %v\n%s\nwant OpenSSH's \"No such file\"", err, out)
	}
	if out, err := g.sftp(t, dir, "acme", clientKeys["ed25519"], "get missing.txt\n"); err == nil {
		t.Errorf("OpenSSH get of a missing file succeeded:\n%s", out)
	}
	if _, err := pm("rename", "missing.txt", "other.txt"); err == nil {
		t.Errorf("paramiko rename of a missing file succeeded")
	}
	if logs := g.logs.String()[started:]; strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("a client asking for a missing file is logged as an error:\n%s", logs)
	}

	local := filepath.Join(dir, "f.bin")
	data := writeRandom(t, local, 1000)
	if out, err := pm("put", local, "f.bin"); err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	out, err = pm("truncate", "f.bin", "512")
	if err == nil || !strings.Contains(out, "truncate refused") {
		t.Errorf("paramiko truncate(512): %v\n%s\nwant a refusal saying so", err, out)
	}
	if got, _ := s3srv.Get(t, "partners/acme/f.bin"); !bytes.Equal(got, data) {
		t.Errorf("a refused truncate changed the file: %d bytes", len(got))
	}
	if out, err := pm("truncate", "f.bin", "1000"); err != nil {
		t.Errorf("truncate to the file's own size: %v\n%s", err, out)
	}
	if out, err := pm("truncate", "f.bin", "0"); err != nil {
		t.Errorf("truncate(0): %v\n%s", err, out)
	}
	if got, ok := s3srv.Get(t, "partners/acme/f.bin"); !ok || len(got) != 0 {
		t.Errorf("after truncate(0) the object holds %d bytes (exists %v); want an empty file", len(got), ok)
	}
	os.Remove(local)
}
