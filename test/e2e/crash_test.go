package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// crashLoops is how many times TestCrash_KillDuringUploads kills the
// gateway: S3SFTPD_CRASH_LOOPS (50 for the soak run), or 5 to keep the
// suite quick.
func crashLoops(t *testing.T) int {
	v := os.Getenv("S3SFTPD_CRASH_LOOPS")
	if v == "" {
		return 5
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("S3SFTPD_CRASH_LOOPS = %q; want a positive number", v)
	}
	return n
}

// TestCrash_KillDuringUploads kills the gateway with SIGKILL while two
// uploads are streaming parts to S3 (an overwrite of an existing object and a
// new name), again and again, each time on a fresh gateway over the same
// store. After every crash the previous version is intact, the new name does
// not exist, and every object under the home equals a file uploaded whole.
// Then a gateway with a small orphan_upload_age aborts every upload the
// crashes left, and the next upload commits whole.
func TestCrash_KillDuringUploads(t *testing.T) {
	loops := crashLoops(t)
	s3srv := s3test.Start(t)
	const home = "partners/acme/"
	users := []testUser{{name: "acme", home: home, keys: []string{pubKey(t, "ed25519")}}}
	previous := []byte("the previous version, which no crash may touch")
	s3srv.Put(t, home+"data.bin", previous)
	dir := t.TempDir()
	files := map[string][]byte{
		"data.bin": writeRandom(t, filepath.Join(dir, "data.bin"), 12<<20),
		"new.bin":  writeRandom(t, filepath.Join(dir, "new.bin"), 12<<20+5),
	}
	whole := [][]byte{previous, files["data.bin"], files["new.bin"]}

	checked, partial := 0, 0
	for i := range loops {
		g := startGateway(t, s3srv, gatewayOpts{users: users})
		before := len(s3srv.MultipartUploads(t))
		var clients []*exec.Cmd
		for _, name := range []string{"data.bin", "new.bin"} {
			// -l: 32 Mbit/s, so each 12 MiB upload is surely mid-way when the
			// gateway dies, a second or so after its first part went out.
			args := append(g.sshOpts(clientKeys["ed25519"]), "-P", g.port, "-l", "32000", "-b", "-", "acme@127.0.0.1")
			c := exec.Command("sftp", args...)
			c.Dir, c.Stdin = dir, strings.NewReader("put "+name+"\n")
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		waitFor(t, 20*time.Second, "both uploads to stream parts", func() bool { return len(s3srv.MultipartUploads(t)) >= before+2 })
		g.cmd.Process.Kill() // SIGKILL: no drain, no abort, no audit record
		err := <-g.done
		g.done <- err // for the cleanup's wait
		for _, c := range clients {
			c.Process.Kill()
			c.Wait()
		}

		if got, _ := s3srv.Get(t, home+"data.bin"); !bytes.Equal(got, previous) {
			t.Fatalf("loop %d: data.bin = %d bytes after the crash; want the previous version", i, len(got))
		}
		if _, ok := s3srv.Get(t, home+"new.bin"); ok {
			t.Fatalf("loop %d: new.bin exists after the crash; want no object", i)
		}
		for _, key := range s3srv.Keys(t, home) {
			got, _ := s3srv.Get(t, key)
			checked++
			if !containsBytes(whole, got) {
				partial++
				t.Errorf("loop %d: %s holds %d bytes, none of the files uploaded whole", i, key, len(got))
			}
		}
	}
	orphans := len(s3srv.MultipartUploads(t))
	if orphans < 2*loops {
		t.Fatalf("got %d uploads left in progress after %d crashes; want at least %d (two per crash)", orphans, loops, 2*loops)
	}

	time.Sleep(1500 * time.Millisecond) // every orphan is older than the 1s age below
	g := startGateway(t, s3srv, gatewayOpts{users: users, s3: "orphan_upload_age = \"1s\"\norphan_sweep_every = \"0s\"\n"})
	waitFor(t, 20*time.Second, "the sweep to abort the orphans", func() bool { return len(s3srv.MultipartUploads(t)) == 0 })
	waitFor(t, 5*time.Second, "the sweep's log", func() bool { return strings.Contains(g.logs.String(), `"orphan sweep done"`) })
	if aborted := abortedInLog(t, g.logs.String()); aborted != orphans {
		t.Errorf("got %d aborts logged; want %d", aborted, orphans)
	}
	if strings.Contains(g.logs.String(), "data.bin") || strings.Contains(g.logs.String(), "new.bin") {
		t.Errorf("the log names a file; want upload ids only")
	}
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put data.bin\nput new.bin\n")
	for name, data := range files {
		if got, _ := s3srv.Get(t, home+name); !bytes.Equal(got, data) {
			t.Errorf("after the crashes, %s = %d bytes; want the %d bytes uploaded", name, len(got), len(data))
		}
	}
	t.Logf("%d crashes; %d objects checked, %d partial; %d orphaned uploads aborted", loops, checked, partial, orphans)
}

func containsBytes(set [][]byte, b []byte) bool {
	for _, s := range set {
		if bytes.Equal(s, b) {
			return true
		}
	}
	return false
}

// abortedInLog sums the counts of the "orphaned uploads aborted" log lines.
func abortedInLog(t *testing.T, logs string) int {
	t.Helper()
	n := 0
	for line := range strings.SplitSeq(logs, "\n") {
		var rec struct {
			Msg   string
			Count int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "orphaned uploads aborted" {
			n += rec.Count
		}
	}
	return n
}
