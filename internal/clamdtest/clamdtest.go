// Package clamdtest starts Debian's real ClamAV daemon (clamd, package
// clamav-daemon) for tests: in the foreground, on a unix socket in a
// temporary directory, with a signature database the test writes (there is
// no network for freshclam), and stops it when the test ends or when the
// test says so ("clamd stopped mid-upload").
//
// It is a test helper only: nothing the gateway ships imports it.
package clamdtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
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
)

// EICAR is the standard antivirus test file: every scanner reports it, and
// it harms nothing.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// EICARSignature is the name clamd reports EICAR by with the database
// written here: clamd marks a signature from an unsigned database
// ".UNOFFICIAL".
const EICARSignature = "Eicar-Test-Signature.UNOFFICIAL"

// eicarHDB is an MD5 signature of the EICAR file: md5:size:name.
const eicarHDB = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"

// DatabaseVersion is the version the daily database written here claims,
// as clamd's VERSION reports it (with Clamd.Built).
const DatabaseVersion = 27000

// Clamd is a running clamd.
type Clamd struct {
	Socket  string // path of its unix socket
	Address string // "unix:" + Socket, as the gateway's config names it
	Dir     string // its config, database and temporary directory
	// Built is when its signature database claims to have been built (to
	// the minute, in UTC): Options.DatabaseAge before the start.
	Built time.Time

	cmd      *exec.Cmd
	exited   chan struct{} // closed when clamd has exited
	stopOnce sync.Once
	log      *bytes.Buffer
}

// Options change the daemon the harness starts.
type Options struct {
	// StreamMaxLength is clamd's limit on one INSTREAM ("4000M"; clamd's own
	// default is 25M).
	StreamMaxLength string
	// MaxScanSize is clamd's MaxScanSize and MaxFileSize ("4000M").
	MaxScanSize string
	// DatabaseAge makes the signature database that old (0: built now).
	DatabaseAge time.Duration
}

// Start runs clamd with a database holding the EICAR signature and waits
// until it answers PING. A missing clamd fails the test with how to
// install it.
func Start(t testing.TB, opts ...Options) *Clamd {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.StreamMaxLength == "" {
		o.StreamMaxLength = "4000M"
	}
	if o.MaxScanSize == "" {
		o.MaxScanSize = "4000M"
	}
	bin, err := exec.LookPath("clamd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/clamd"); serr == nil {
			bin = "/usr/sbin/clamd"
		} else {
			t.Fatalf("clamd not found: install Debian's clamav-daemon (scripts/test does: apt-get install clamav-daemon)")
		}
	}
	// A unix socket path is at most 107 bytes: t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{db, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	built := time.Now().Add(-o.DatabaseAge).UTC().Truncate(time.Minute)
	if err := writeDaily(filepath.Join(db, "daily.cud"), built); err != nil {
		t.Fatal(err)
	}
	c := &Clamd{Socket: filepath.Join(dir, "clamd.sock"), Dir: dir, Built: built, log: new(bytes.Buffer)}
	c.Address = "unix:" + c.Socket
	conf := strings.Join([]string{
		"LocalSocket " + c.Socket,
		"Foreground yes",
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"LogTime yes",
		"DatabaseDirectory " + db,
		"TemporaryDirectory " + tmp,
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		"StreamMaxLength " + o.StreamMaxLength,
		// A file larger than what clamd scans must not pass as clean.
		"MaxFileSize " + o.MaxScanSize,
		"MaxScanSize " + o.MaxScanSize,
		"AlertExceedsMax yes",
		"SelfCheck 0",
		"MaxThreads 4",
		"ReadTimeout 30",
		"CommandReadTimeout 30",
		"",
	}, "\n")
	if os.Geteuid() == 0 {
		conf += "User root\n" // Debian's build drops to clamav otherwise, which cannot read the temp dir
	}
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "--config-file="+confPath)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start clamd: %v", err)
	}
	c.exited = make(chan struct{})
	go func() { c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(60 * time.Second)
	for !c.ping() {
		select {
		case <-c.exited:
			logText, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd exited before answering PING\n%s\n%s", c.log, logText)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			t.Fatalf("clamd did not answer PING on %s within 60s\n%s", c.Socket, c.log)
		}
	}
	return c
}

func (c *Clamd) ping() bool {
	conn, err := net.DialTimeout("unix", c.Socket, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, _ := conn.Read(buf)
	return strings.HasPrefix(string(buf[:n]), "PONG")
}

// Stop kills clamd (SIGKILL, as a crash would) and waits for it; it is safe
// to call more than once.
func (c *Clamd) Stop() {
	c.stopOnce.Do(func() {
		c.cmd.Process.Kill()
		<-c.exited
	})
}

// Pause stops clamd without killing it (SIGSTOP): it accepts nothing and
// answers nothing, like a clamd stuck under load, until Resume.
func (c *Clamd) Pause(t testing.TB) {
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Signal(syscall.SIGCONT) })
}

// Resume lets a paused clamd go on (SIGCONT).
func (c *Clamd) Resume(t testing.TB) {
	if err := c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// writeDaily writes a "daily" database in ClamAV's unsigned container form
// (.cud: a 512-byte header, then a gzipped tar with an .info manifest), so
// that clamd reports a database version and build time as it does with the
// real, signed daily.cvd; it holds the EICAR signature.
func writeDaily(path string, built time.Time) error {
	// ClamAV-VDB:build time:version:signatures:functionality level:md5:dsig:builder:build time (unix)
	header := fmt.Sprintf("ClamAV-VDB:%s:%d:1:90:%s:X:clamdtest:%d",
		built.Format("02 Jan 2006 15-04 -0700"), DatabaseVersion,
		strings.Repeat("0", 32), built.Unix())
	sum := sha256.Sum256([]byte(eicarHDB))
	info := fmt.Sprintf("%s\ndaily.hdb:%d:%x\n", header, len(eicarHDB), sum)
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, data string }{{"daily.info", info}, {"daily.hdb", eicarHDB}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: built}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(f.data)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	header += strings.Repeat(" ", 512-len(header))
	return os.WriteFile(path, append([]byte(header), tgz.Bytes()...), 0o600)
}
