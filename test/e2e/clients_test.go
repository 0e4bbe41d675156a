package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// The client compatibility matrix: every client partners use, from its
// Debian package, runs the same operations against the gateway, and after
// each one the test compares the bucket with what must be there, byte for
// byte. A client that lacks an operation leaves its func nil; the table in
// docs/clients.md says so.

// clientOps are the operations of one client. Remote paths are absolute
// SFTP paths; each func runs the real client once and returns its output.
type clientOps struct {
	put       func(local, remote string) (string, error)
	get       func(remote, local string) (string, error)
	resumeGet func(remote, local string) (string, error) // continue a partial local file
	resumePut func(local, remote string) (string, error) // continue a partial remote file (refused)
	list      func(dir string) (string, error)           // a long listing: sizes and times
	// entries lists dir's own entries, directories too, where list does not
	// (rclone's lsl recurses and shows files only); nil: list does.
	entries func(dir string) (string, error)
	rename  func(from, to string) (string, error) // the client's rename command
	// plainRename, when set, is what the client shows when its rename is
	// SSH_FXP_RENAME, which never replaces a file (posix-rename@openssh.com
	// does): onto an existing name it fails, changing nothing, and the user
	// deletes the target first.
	plainRename string
	mkdir       func(dir string) (string, error)
	rmdir       func(dir string) (string, error)
	remove      func(path string) (string, error)
	// putKeepTime uploads and sets the remote mtime to the local one.
	putKeepTime func(local, remote string) (string, error)
	big         bool // moves the 100 MiB file in every run (all do with S3SFTPD_MATRIX_BIG=all)
	// extra runs the client's own commands (lftp mirror, rclone sync and
	// check, scp -p, paramiko's other calls) in the empty directory dir.
	extra func(t *testing.T, s3srv *s3test.Server, dir, home string)
}

// matrixFile is a file every client moves: the names cover spaces, the NFC
// and NFD forms of one name (two different keys), and characters URL and
// shell layers trip on.
type matrixFile struct {
	name string
	size int64
}

var matrixFiles = []matrixFile{
	{"plain.bin", 6<<20 + 1}, // over one 5 MiB part: a multipart upload
	{"with space.txt", 1000},
	{"caf\u00e9 nfc.txt", 2001},
	{"cafe\u0301 nfd.txt", 3002},
	{"odd #%&+.txt", 4003},
	{"empty.bin", 0},
}

// bigSize is the size of the file each client moves to measure throughput.
const bigSize = 100 << 20

// runMatrix runs every operation c has in remote directory /cdir as user
// acme (home partners/acme/), checking the bucket after each step.
func runMatrix(t *testing.T, s3srv *s3test.Server, cdir string, c clientOps) {
	home := "partners/acme/" + cdir + "/"
	local := t.TempDir()
	remote := func(name string) string { return "/" + cdir + "/" + name }
	want := map[string][]byte{home: nil} // the directory marker

	step := func(what string, out string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		wantObjects(t, s3srv, home, want)
	}

	out, err := c.mkdir("/" + cdir)
	step("mkdir", out, err)

	files := map[string][]byte{}
	for _, f := range matrixFiles {
		files[f.name] = writeRandom(t, filepath.Join(local, f.name), f.size)
		out, err := c.put(filepath.Join(local, f.name), remote(f.name))
		want[home+f.name] = files[f.name]
		step("upload "+f.name, out, err)
	}

	files["plain.bin"] = writeRandom(t, filepath.Join(local, "plain.bin"), 5<<20+7)
	out, err = c.put(filepath.Join(local, "plain.bin"), remote("plain.bin"))
	want[home+"plain.bin"] = files["plain.bin"]
	step("overwrite plain.bin with a shorter file", out, err)

	if c.list != nil {
		out, err := c.list("/" + cdir)
		if err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		for name, data := range files {
			if !listed(out, name, len(data)) {
				t.Errorf("listing does not show %q with size %d:\n%s", name, len(data), out)
			}
		}
	}

	down := t.TempDir()
	for name, data := range files {
		out, err := c.get(remote(name), filepath.Join(down, name))
		if err != nil {
			t.Fatalf("download %s: %v\n%s", name, err, out)
		}
		sameFile(t, filepath.Join(down, name), data)
	}

	if c.resumeGet != nil {
		part := filepath.Join(down, "partial.bin")
		os.WriteFile(part, files["plain.bin"][:1<<20], 0o644)
		out, err := c.resumeGet(remote("plain.bin"), part)
		if err != nil {
			t.Fatalf("resume download: %v\n%s", err, out)
		}
		sameFile(t, part, files["plain.bin"])
	}

	if c.putKeepTime != nil {
		keepTime(t, s3srv, c, local, "/"+cdir, home)
		wantObjects(t, s3srv, home, want)
	}

	out, err = c.rename(remote("plain.bin"), remote("renamed.bin"))
	want[home+"renamed.bin"] = want[home+"plain.bin"]
	delete(want, home+"plain.bin")
	step("rename onto a new name", out, err)

	if c.plainRename != "" {
		out, err = c.rename(remote("with space.txt"), remote("renamed.bin"))
		if err == nil || !strings.Contains(out, c.plainRename) {
			t.Fatalf("plain rename onto an existing name: error %v; want it refused, saying %q:\n%s", err, c.plainRename, out)
		}
		wantObjects(t, s3srv, home, want)
		out, err = c.remove(remote("renamed.bin"))
		delete(want, home+"renamed.bin")
		step("delete the target before a plain rename", out, err)
	}
	out, err = c.rename(remote("with space.txt"), remote("renamed.bin"))
	want[home+"renamed.bin"] = want[home+"with space.txt"]
	delete(want, home+"with space.txt")
	step("rename onto an existing name", out, err)

	out, err = c.mkdir(remote("sub dir"))
	want[home+"sub dir/"] = nil
	step("mkdir", out, err)
	out, err = c.rmdir(remote("sub dir"))
	delete(want, home+"sub dir/")
	step("rmdir", out, err)

	for _, name := range []string{"renamed.bin", "caf\u00e9 nfc.txt", "cafe\u0301 nfd.txt", "odd #%&+.txt", "empty.bin"} {
		out, err := c.remove(remote(name))
		delete(want, home+name)
		step("delete "+name, out, err)
	}

	if c.extra != nil {
		c.extra(t, s3srv, "/"+cdir, home)
		wantObjects(t, s3srv, home, want)
	}
	if c.big || os.Getenv("S3SFTPD_MATRIX_BIG") == "all" {
		moveBig(t, s3srv, c, local, down, remote("big.bin"), home+"big.bin", want)
	}
	out, err = c.rmdir("/" + cdir)
	delete(want, home)
	step("rmdir", out, err)
}

// moveBig uploads and downloads 100 MiB (a multipart upload of 20 parts)
// and logs the throughput.
func moveBig(t *testing.T, s3srv *s3test.Server, c clientOps, local, down, remote, key string, want map[string][]byte) {
	home := strings.TrimSuffix(key, "big.bin")
	big := writeRandom(t, filepath.Join(local, "big.bin"), bigSize)
	start := time.Now()
	out, err := c.put(filepath.Join(local, "big.bin"), remote)
	up := time.Since(start)
	want[key] = big
	if err != nil {
		t.Fatalf("upload 100 MiB: %v\n%s", err, out)
	}
	wantObjects(t, s3srv, home, want)
	start = time.Now()
	out, err = c.get(remote, filepath.Join(down, "big.bin"))
	if err != nil {
		t.Fatalf("download 100 MiB: %v\n%s", err, out)
	}
	downDur := time.Since(start)
	sameFile(t, filepath.Join(down, "big.bin"), big)
	t.Logf("100 MiB: upload %.1f MiB/s, download %.1f MiB/s (race=%v)", 100/up.Seconds(), 100/downDur.Seconds(), raceEnabled)

	out, err = c.remove(remote)
	delete(want, key)
	if err != nil {
		t.Fatalf("delete big.bin: %v\n%s", err, out)
	}
	wantObjects(t, s3srv, home, want)
}

// keepTime uploads "kept time.txt", its mtime set in 2001, with the
// client's time-preserving upload, checks that the object keeps the time and
// a listing shows it, and deletes it.
func keepTime(t *testing.T, s3srv *s3test.Server, c clientOps, local, dir, home string) {
	t.Helper()
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	file := filepath.Join(local, "kept time.txt")
	writeRandom(t, file, 6<<20+3) // multipart: lftp's SETSTAT before CLOSE comes after the upload was created
	if err := os.Chtimes(file, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if out, err := c.putKeepTime(file, dir+"/kept time.txt"); err != nil {
		t.Fatalf("upload keeping the time: %v\n%s", err, out)
	}
	key := home + "kept time.txt"
	head, err := s3srv.Client(t).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &s3srv.Bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	// In the metadata, or (a time set on the stored file) in a tag the metadata points to.
	kept := head.Metadata["s3sftpd-mtime"]
	if kept == "tag" {
		tags, err := s3srv.Client(t).GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &s3srv.Bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range tags.TagSet {
			if aws.ToString(tag.Key) == "s3sftpd-mtime" {
				kept = aws.ToString(tag.Value)
			}
		}
	}
	if kept != fmt.Sprint(mtime.Unix()) {
		t.Errorf("object keeps s3sftpd-mtime = %q (metadata %q); want %d", kept, head.Metadata["s3sftpd-mtime"], mtime.Unix())
	}
	if c.list != nil {
		out, err := c.list(dir)
		if err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		// ls -l style, rclone lsl, or paramiko's st_mtime
		if !regexp.MustCompile(`Feb +3 +2001 .*kept time\.txt|2001-02-03 04:05:06\.0+ .*kept time\.txt|kept time\.txt 6291459 981173106 `).MatchString(out) {
			t.Errorf("listing does not show kept time.txt with mtime %v:\n%s", mtime, out)
		}
	}
	if out, err := c.remove(dir + "/kept time.txt"); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
}

// wantObjects fails unless the keys under prefix are exactly want's, each
// holding exactly its bytes.
func wantObjects(t *testing.T, s3srv *s3test.Server, prefix string, want map[string][]byte) {
	t.Helper()
	got := slices.DeleteFunc(s3srv.Keys(t, prefix), objfmt.IsTimesIndex) // the gateway's index of kept times: no partner's file
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("bucket holds %q under %s; want %q", got, prefix, keys)
	}
	for k, data := range want {
		b, _ := s3srv.Get(t, k)
		if sha256.Sum256(b) != sha256.Sum256(data) {
			t.Fatalf("object %s holds %d bytes, not the %d bytes sent", k, len(b), len(data))
		}
	}
}

// listed reports whether a long listing has a line with size and name.
func listed(out, name string, size int) bool {
	re := regexp.MustCompile(`(^|\s)` + fmt.Sprint(size) + `\s.*` + regexp.QuoteMeta(name) + `\s*$`)
	for _, line := range strings.Split(out, "\n") {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

// hostKey is one of the gateway's host keys (file ssh_host_ed25519_key or
// ssh_host_rsa_key), which clients pin.
func (g *gateway) hostKey(t *testing.T, file string) ssh.PublicKey {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(filepath.Dir(g.config), "hostkeys", file))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

// knownHosts writes an OpenSSH known_hosts file naming the gateway's keys.
func (g *gateway) knownHosts(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "known_hosts")
	var lines []byte
	for _, f := range []string{"ssh_host_ed25519_key", "ssh_host_rsa_key"} {
		lines = fmt.Appendf(lines, "[127.0.0.1]:%s %s", g.port, ssh.MarshalAuthorizedKey(g.hostKey(t, f)))
	}
	if err := os.WriteFile(path, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hostKeySHA256 is the base64 SHA-256 of the ed25519 host key, unpadded (curl
// --hostpubsha256, PuTTY -hostkey).
func (g *gateway) hostKeySHA256(t *testing.T) string {
	sum := sha256.Sum256(g.hostKey(t, "ssh_host_ed25519_key").Marshal())
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

// runClient runs a client program with a clean environment in UTC.
func runClient(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"TZ=UTC", "LC_ALL=C.UTF-8", "HOME=" + dir}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// quote puts a name in double quotes with backslash escapes, as psftp, lftp
// and curl's -Q read them.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestClients_UploadResume: a partial upload under a temporary name
// (name.filepart) is a multipart upload the gateway keeps pending, so each
// client's resume writes the rest from the partial size as new parts, and
// the rename stores the exact bytes. Plain names keep the atomic rule: a
// resume is refused and the stored file is left as it was.
func TestClients_UploadResume(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{}) // parts of 5 MiB
	dir := t.TempDir()
	full := filepath.Join(dir, "full.bin")
	data := writeRandom(t, full, 13<<20+5)
	partial := data[:5<<20] // one whole part: what a disconnect leaves, or a CLOSE on a part boundary
	os.WriteFile(filepath.Join(dir, "part.bin"), partial, 0o644)
	for _, c := range []struct {
		name    string
		remote  string // the file resumed
		partial bool   // the remote file starts partial (else complete)
		run     func(remote string) (string, error)
		wantErr bool
		want    []byte
	}{
		{"openssh-reput", "f.bin.filepart", true, func(r string) (string, error) {
			return g.sftp(t, dir, "acme", clientKeys["ed25519"], "reput full.bin "+r+"\n")
		}, false, data},
		{"psftp-reput", "f.bin.filepart", true, func(r string) (string, error) { return psftpOps(t, g).resumePut(full, "/"+r) }, false, data},
		{"lftp-put-c", "f.bin.filepart", true, func(r string) (string, error) { return lftpOps(t, g).resumePut(full, "/"+r) }, false, data},
		{"openssh-reput-plain-name", "f.bin", true, func(r string) (string, error) {
			return g.sftp(t, dir, "acme", clientKeys["ed25519"], "reput full.bin "+r+"\n")
		}, true, partial},
		// nothing left to send: lftp opens and closes, and the object must stay whole
		{"lftp-put-c-complete", "f.bin", false, func(r string) (string, error) { return lftpOps(t, g).resumePut(full, "/"+r) }, false, data},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := "part.bin"
			if !c.partial {
				start = "full.bin"
			}
			g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put "+start+" "+c.remote+"\n")
			out, err := c.run(c.remote)
			if (err != nil) != c.wantErr {
				t.Errorf("resumed upload: error %v; want error %v:\n%s", err, c.wantErr, out)
			}
			if c.remote != "f.bin" {
				g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "rename "+c.remote+" f.bin\n")
			}
			wantObjects(t, s3srv, "partners/acme/f.bin", map[string][]byte{"partners/acme/f.bin": c.want})
		})
	}
}

// TestClients_OpenSSHLimits: the gateway announces limits@openssh.com, so
// OpenSSH sftp moves 255 KiB per read and write request instead of 32 KiB.
func TestClients_OpenSSHLimits(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "f.bin"), 20<<20+3)
	out, err := g.sftp(t, dir, "acme", clientKeys["ed25519"], "put f.bin\nget f.bin back.bin\n", "-vvv")
	if err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	if !strings.Contains(out, "using 261120 / 261120") {
		t.Errorf("sftp does not use 255 KiB requests:\n%s", grepLines(out, "buffer sizes", "extension"))
	}
	sameFile(t, filepath.Join(dir, "back.bin"), data)
	wantObjects(t, s3srv, "partners/acme/f.bin", map[string][]byte{"partners/acme/f.bin": data})
}

// grepLines returns the lines of out that contain any of words.
func grepLines(out string, words ...string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				b.WriteString(line + "\n")
				break
			}
		}
	}
	return b.String()
}

// TestClients_CheckFile: WinSCP's checksum command (check-file-name) and
// check-file-handle, sent by paramiko as raw extended requests, answer the
// SHA-256 stored at upload, for a file put whole and a multipart one.
func TestClients_CheckFile(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	dir := t.TempDir()
	small := writeRandom(t, filepath.Join(dir, "small.bin"), 1000)
	big := writeRandom(t, filepath.Join(dir, "big.bin"), 6<<20+1)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put small.bin\nput big.bin\n")
	run := paramikoOp(t, g)
	for _, c := range []struct {
		op, name string
		data     []byte
	}{
		{"check_file", "/small.bin", small},
		{"check_file", "big.bin", big},
		{"check_file_handle", "/big.bin", big},
	} {
		out, err := run(c.op, c.name)
		sum := sha256.Sum256(c.data)
		if want := "check-file sha256 " + hex.EncodeToString(sum[:]); err != nil || strings.TrimSpace(out) != want {
			t.Errorf("%s %s = %q, %v; want %q", c.op, c.name, out, err, want)
		}
	}
	if out, err := run("check_file", "/missing.bin"); err == nil || !strings.Contains(out, "FileNotFoundError") {
		t.Errorf("check_file of a missing file = %q, %v; want no such file", out, err)
	}
	// Each answer is in the audit trail, as a read is.
	var got []string
	for _, r := range readTrail(t, g.auditFile()) {
		if r.Event == audit.EventChecksum {
			got = append(got, fmt.Sprintf("%s %s %s %.8s", r.User, r.Path, r.Result, r.SHA256))
		}
	}
	sumOf := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:4]) }
	want := []string{"acme /small.bin ok " + sumOf(small), "acme /big.bin ok " + sumOf(big), "acme /big.bin ok " + sumOf(big), "acme /missing.bin error "}
	if !slices.Equal(got, want) {
		t.Errorf("checksum records %q; want %q", got, want)
	}
}

// TestClients_UploadResumeAfterDisconnect: OpenSSH sftp, slowed down, is
// killed while it uploads f.bin.filepart, after the gateway has sent a part
// to S3. The partial file then shows its whole parts, reput sends the rest
// into the same multipart upload, and the rename stores the exact bytes.
func TestClients_UploadResumeAfterDisconnect(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{}) // parts of 5 MiB
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "full.bin"), 24<<20+9)
	key := clientKeys["ed25519"]
	args := append(g.sshOpts(key), "-P", g.port, "-l", "40000", "-b", "-", "acme@127.0.0.1") // 5 MB/s
	cmd := exec.Command("sftp", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("put full.bin f.bin.filepart\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	client, ctx := s3srv.Client(t), context.Background()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no part of f.bin.filepart reached S3 in 30s")
		}
		ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s3srv.Bucket, Prefix: aws.String("partners/acme/f.bin")})
		if err != nil || len(ups.Uploads) != 1 {
			continue
		}
		parts, err := client.ListParts(ctx, &s3.ListPartsInput{Bucket: &s3srv.Bucket, Key: ups.Uploads[0].Key, UploadId: ups.Uploads[0].UploadId})
		if err == nil && len(parts.Parts) > 0 {
			break
		}
	}
	cmd.Process.Kill() // the connection breaks with the file open
	cmd.Wait()

	var size int64
	for deadline := time.Now().Add(10 * time.Second); size == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("f.bin.filepart not listed after the disconnect")
		}
		out, _ := g.sftp(t, dir, "acme", key, "ls -l f.bin.filepart\n")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasSuffix(line, "f.bin.filepart") {
				size, _ = strconv.ParseInt(f[4], 10, 64)
			}
		}
	}
	if size%(5<<20) != 0 || size >= int64(len(data)) {
		t.Fatalf("partial size %d; want whole 5 MiB parts, less than the file", size)
	}
	if keys := s3srv.Keys(t, "partners/acme/f.bin"); len(keys) != 0 {
		t.Fatalf("objects visible after the disconnect: %q", keys)
	}
	g.mustSFTP(t, dir, "acme", key, "reput full.bin f.bin.filepart\nrename f.bin.filepart f.bin\n")
	wantObjects(t, s3srv, "partners/acme/f.bin", map[string][]byte{"partners/acme/f.bin": data})
	t.Logf("resumed from %d of %d bytes", size, len(data))
}
