package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_SFTPSession walks a partner's day with OpenSSH sftp, once per key
// type, and checks what S3 holds after each step.
func TestE2E_SFTPSession(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	for _, kind := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			home := "partners/acme/" + kind + "/"
			data := writeRandom(t, filepath.Join(dir, "report.csv"), 3<<20+17)
			out := g.mustSFTP(t, dir, "acme", clientKeys[kind], fmt.Sprintf(`pwd
mkdir %[1]s
cd %[1]s
put report.csv
ls -l
chmod 600 report.csv
chown 0 report.csv
get report.csv back.csv
rename report.csv moved.csv
mkdir sub
put report.csv sub/copy.csv
df -h
`, kind))
			if !strings.Contains(out, "Remote working directory: /\n") {
				t.Errorf("pwd did not land in /:\n%s", out)
			}
			if !regexp.MustCompile(`-rw-r--r-- .* 3145745 .* report\.csv`).MatchString(out) {
				t.Errorf("ls -l does not show report.csv with its size:\n%s", out)
			}
			sameFile(t, filepath.Join(dir, "back.csv"), data)
			if got, _ := s3srv.Get(t, home+"moved.csv"); string(got) != string(data) {
				t.Errorf("S3 %smoved.csv holds %d bytes; want the uploaded file", home, len(got))
			}
			if _, ok := s3srv.Get(t, home+"report.csv"); ok {
				t.Errorf("report.csv still in S3 after rename")
			}
			if _, ok := s3srv.Get(t, home+"sub/"); !ok {
				t.Errorf("mkdir left no %ssub/ marker", home)
			}

			// reget resumes a partial download from where the local file ends
			os.WriteFile(filepath.Join(dir, "partial.csv"), data[:1<<20], 0o644)
			g.mustSFTP(t, dir, "acme", clientKeys[kind], fmt.Sprintf("reget %s/moved.csv partial.csv\n", kind))
			sameFile(t, filepath.Join(dir, "partial.csv"), data)

			// rmdir refuses a non-empty directory and sftp -b exits non-zero
			if out, err := g.sftp(t, dir, "acme", clientKeys[kind], fmt.Sprintf("rmdir %s/sub\n", kind)); err == nil {
				t.Errorf("rmdir of a non-empty directory succeeded:\n%s", out)
			}
			g.mustSFTP(t, dir, "acme", clientKeys[kind], fmt.Sprintf("rm %[1]s/sub/copy.csv\nrmdir %[1]s/sub\nrm %[1]s/moved.csv\nrmdir %[1]s\n", kind))
			if keys := s3srv.Keys(t, home); len(keys) != 0 {
				t.Errorf("keys left under %s after rm and rmdir: %v", home, keys)
			}
		})
	}
	t.Run("refusals", func(t *testing.T) {
		dir := t.TempDir()
		writeRandom(t, filepath.Join(dir, "f"), 10)
		for _, cmd := range []string{"ln -s f link\n", "ln f hard\n", "rm nonexistent\n", "cd nowhere\n", "get nonexistent\n"} {
			if out, err := g.sftp(t, dir, "acme", clientKeys["ed25519"], cmd); err == nil {
				t.Errorf("%q succeeded; want sftp -b to fail:\n%s", strings.TrimSpace(cmd), out)
			}
		}
	})
}

// TestE2E_SCP uploads with scp (SFTP mode, -p), overwrites, and downloads.
func TestE2E_SCP(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	first := writeRandom(t, filepath.Join(dir, "a.bin"), 6<<20)
	if out, err := g.scp(t, dir, key, "-p", "a.bin", "acme@127.0.0.1:a.bin"); err != nil {
		t.Fatalf("scp upload: %v\n%s", err, out)
	}
	second := writeRandom(t, filepath.Join(dir, "a.bin"), 1<<20+3) // shorter: the overwrite must not keep old bytes
	if out, err := g.scp(t, dir, key, "a.bin", "acme@127.0.0.1:a.bin"); err != nil {
		t.Fatalf("second scp (overwrite): %v\n%s", err, out)
	}
	if got, _ := s3srv.Get(t, "partners/acme/a.bin"); string(got) != string(second) || len(first) == len(second) {
		t.Fatalf("after overwrite S3 holds %d bytes; want the %d bytes of the second upload", len(got), len(second))
	}
	if out, err := g.scp(t, dir, key, "acme@127.0.0.1:a.bin", "down.bin"); err != nil {
		t.Fatalf("scp download: %v\n%s", err, out)
	}
	sameFile(t, filepath.Join(dir, "down.bin"), second)
	if out, err := g.scp(t, dir, key, "acme@127.0.0.1:missing.bin", "x"); err == nil {
		t.Errorf("scp of a missing file succeeded:\n%s", out)
	}
}

// TestE2E_LargeFile moves 200 MiB each way and compares every byte, in both
// checksum modes (the multipart and ranged-read paths at scale).
func TestE2E_LargeFile(t *testing.T) {
	s3srv := s3test.Start(t)
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "big.bin"), 200<<20)
	for _, mode := range []string{"compat", "aws"} {
		t.Run(mode, func(t *testing.T) {
			g := startGateway(t, s3srv, gatewayOpts{checksums: mode})
			os.Remove(filepath.Join(dir, "back.bin"))
			g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put big.bin "+mode+".bin\nget "+mode+".bin back.bin\n")
			sameFile(t, filepath.Join(dir, "back.bin"), data)
			if ups := s3srv.MultipartUploads(t); len(ups) != 0 {
				t.Errorf("multipart uploads left open: %v", ups)
			}
		})
	}
}

// TestE2E_ConcurrentClients runs 10 clients at once, each with its own file.
func TestE2E_ConcurrentClients(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := t.TempDir()
			data := writeRandom(t, filepath.Join(dir, "in.bin"), int64(7<<20+i*4099))
			name := fmt.Sprintf("c%d.bin", i)
			out, err := g.sftp(t, dir, "acme", clientKeys["ed25519"], "put in.bin "+name+"\nget "+name+" out.bin\n")
			if err != nil {
				errs <- fmt.Errorf("client %d: %v\n%s", i, err, out)
				return
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "out.bin")); string(got) != string(data) {
				errs <- fmt.Errorf("client %d: downloaded %d bytes, differing from upload", i, len(got))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if keys := s3srv.Keys(t, "partners/acme/"); len(keys) != 10 {
		t.Errorf("S3 holds %d objects; want 10: %v", len(keys), keys)
	}
}

// TestE2E_ClientKilledMidUpload: a client that dies mid-upload leaves the old
// object as it was and no multipart upload behind.
func TestE2E_ClientKilledMidUpload(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	s3srv.Put(t, "partners/acme/data.bin", []byte("the previous version"))
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "data.bin"), 64<<20)
	// -l limits the client to 40 Mbit/s so the upload is surely in flight when killed.
	args := append(g.sshOpts(clientKeys["ed25519"]), "-P", g.port, "-l", "40000", "-b", "-", "acme@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("put data.bin\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a multipart upload to start", func() bool { return len(s3srv.MultipartUploads(t)) > 0 })
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, 20*time.Second, "the multipart upload to be aborted", func() bool { return len(s3srv.MultipartUploads(t)) == 0 })
	if got, _ := s3srv.Get(t, "partners/acme/data.bin"); string(got) != "the previous version" {
		t.Errorf("object after killed upload = %d bytes; want the previous version", len(got))
	}
	// The gateway logs after the abort returns, so the line may trail the
	// abort seen in S3 by a moment.
	waitFor(t, 10*time.Second, "the log to record the failed upload", func() bool {
		return strings.Contains(g.logs.String(), "upload failed")
	})
}

// TestE2E_S3DownMidUpload: when S3 dies during an upload, sftp -b exits
// non-zero, and once S3 is back the old object is intact.
func TestE2E_S3DownMidUpload(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	s3srv.Put(t, "partners/acme/data.bin", []byte("the previous version"))
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "data.bin"), 64<<20)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := g.sftp(t, dir, "acme", clientKeys["ed25519"], "put data.bin\n", "-l", "40000")
		done <- result{out, err}
	}()
	waitFor(t, 20*time.Second, "a multipart upload to start", func() bool { return len(s3srv.MultipartUploads(t)) > 0 })
	s3srv.Stop()
	var r result
	select {
	case r = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("sftp did not finish after S3 went away")
	}
	if r.err == nil {
		t.Fatalf("sftp -b exited 0 though S3 died mid-upload:\n%s", r.out)
	}
	s3srv.Restart(t)
	if got, _ := s3srv.Get(t, "partners/acme/data.bin"); string(got) != "the previous version" {
		t.Errorf("object after failed upload = %d bytes; want the previous version", len(got))
	}
}

// TestE2E_Jail drives hostile paths through the real sftp client and checks
// every key written is inside the user's prefix.
func TestE2E_Jail(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	s3srv.Put(t, "partners/acme2/secret.txt", []byte("neighbour"))
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "f"), 100)
	var batch strings.Builder
	segments := []string{"..", "../..", "../acme2", "../acme2/secret.txt", "/..", "//", ".", "...", "x.", "dir./x",
		"..\\\\x", "%2e%2e", "~", "$HOME", "a/../..", strings.Repeat("n", 1100), "é/../..", " ", "-", "*"}
	var hostile []string
	for _, seg := range segments {
		hostile = append(hostile, seg, "/"+seg, seg+"/x", "in/"+seg+"/y", "/../"+seg)
	}
	for _, p := range hostile {
		fmt.Fprintf(&batch, "-put f \"%s\"\n-mkdir \"%s\"\n-rename f2 \"%s\"\n-rm \"%s\"\n-get \"%s\" out\n-ls \"%s\"\n", p, p, p, p, p, p)
	}
	batch.WriteString("put f f2\n")
	for _, p := range hostile {
		fmt.Fprintf(&batch, "-rename f2 \"%s\"\n-put f \"%s\"\n", p, p)
	}
	g.mustSFTP(t, dir, "acme-staff", clientKeys["other"], batch.String())
	for _, key := range s3srv.Keys(t, "") {
		if !strings.HasPrefix(key, "partners/acme/") && key != "partners/acme2/secret.txt" {
			t.Errorf("key %q written outside the jail", key)
		}
	}
	if got, _ := s3srv.Get(t, "partners/acme2/secret.txt"); string(got) != "neighbour" {
		t.Errorf("neighbour's file changed: %q", got)
	}
	if len(s3srv.Keys(t, "partners/acme/")) == 0 {
		t.Errorf("nothing was written inside the jail: the test exercised nothing")
	}
	t.Logf("%d hostile paths, %d requests", len(hostile), strings.Count(batch.String(), "\n"))
}

// TestE2E_DropBox: a write-only user uploads but cannot list, read or
// overwrite, and its uploads through a temporary name (WinSCP's) complete.
func TestE2E_DropBox(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "in.csv"), 2000)
	key := clientKeys["ed25519"]
	g.mustSFTP(t, dir, "drop", key, "put in.csv\n")
	if got, _ := s3srv.Get(t, "partners/drop/in.csv"); string(got) != string(data) {
		t.Fatalf("drop box upload not stored")
	}
	if out, _ := g.sftp(t, dir, "drop", key, "ls\n"); !strings.Contains(out, "Permission denied") {
		t.Errorf("drop box ls did not say permission denied:\n%s", out)
	}
	for _, cmd := range []string{"get in.csv x\n", "put in.csv\n", "rm in.csv\n", "rename in.csv y\n", "mkdir d\n"} {
		if out, err := g.sftp(t, dir, "drop", key, cmd); err == nil {
			t.Errorf("drop box %q succeeded; want refused:\n%s", strings.TrimSpace(cmd), out)
		}
	}
	// WinSCP's upload of a file over 100 KB: name.filepart, then a plain
	// rename, as psftp (WinSCP's engine) sends it; one small file stored
	// under the temporary name, one big enough to be pending
	script := filepath.Join(dir, "batch")
	os.WriteFile(script, []byte("put scan.pdf scan.pdf.filepart\nmv scan.pdf.filepart scan.pdf\n"+
		"put small.pdf small.pdf.filepart\nmv small.pdf.filepart small.pdf\n"), 0o600)
	scan := writeRandom(t, filepath.Join(dir, "scan.pdf"), 6<<20+3)
	small := writeRandom(t, filepath.Join(dir, "small.pdf"), 200<<10)
	if out, err := runClient(dir, nil, "psftp", "-batch", "-b", script, "-P", g.port, "-i", puttyKey(t),
		"-hostkey", "SHA256:"+g.hostKeySHA256(t), "drop@127.0.0.1"); err != nil {
		t.Errorf("drop box upload through a temporary name: %v\n%s", err, out)
	}
	wantObjects(t, s3srv, "partners/drop/", map[string][]byte{
		"partners/drop/in.csv": data, "partners/drop/scan.pdf": scan, "partners/drop/small.pdf": small})
}

// TestE2E_RefusedAccess: wrong keys and non-sftp use of SSH are refused.
func TestE2E_RefusedAccess(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	dir := t.TempDir()
	if out, err := g.sftp(t, dir, "acme-staff", clientKeys["other"], "ls\n"); err != nil {
		t.Fatalf("second staff key of acme's home refused: %v\n%s", err, out)
	}
	if out, err := g.sftp(t, dir, "drop", clientKeys["other"], "ls\n"); err == nil {
		t.Errorf("login with a key not listed for the user succeeded:\n%s", out)
	}
	if out, err := g.sftp(t, dir, "nobody", clientKeys["ed25519"], "ls\n"); err == nil {
		t.Errorf("login as unknown user succeeded:\n%s", out)
	}
	ssh := func(args ...string) error {
		all := append(g.sshOpts(clientKeys["ed25519"]), "-p", g.port)
		return exec.Command("ssh", append(all, args...)...).Run()
	}
	if err := ssh("acme@127.0.0.1", "cat /etc/passwd"); err == nil {
		t.Errorf("exec over ssh succeeded; want refused")
	}
	if err := ssh("-T", "acme@127.0.0.1"); err == nil {
		t.Errorf("shell over ssh succeeded; want refused")
	}
	if err := ssh("-o", "ExitOnForwardFailure=yes", "-N", "-f", "-L", "127.0.0.1:0:127.0.0.1:22", "acme@127.0.0.1"); err == nil {
		exec.Command("pkill", "-f", "ExitOnForwardFailure").Run()
		t.Errorf("port forwarding succeeded; want refused")
	}
	if err := ssh("-o", "HostKeyAlgorithms=ssh-rsa", "acme@127.0.0.1"); err == nil {
		t.Errorf("ssh-rsa (SHA-1) host key signature accepted")
	}
	if err := ssh("-o", "PubkeyAcceptedAlgorithms=ssh-rsa", "-i", clientKeys["rsa"], "-s", "acme@127.0.0.1", "sftp"); err == nil {
		t.Errorf("ssh-rsa (SHA-1) user signature accepted")
	}
}
