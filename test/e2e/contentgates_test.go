package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/clamdtest"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// The content gates through the gateway, with a real clamd and GnuPG: the
// partner's own client uploads, and the bucket and the trail show what was
// stored, or that nothing was. Until the folders are wired into sessions
// (issue 18), the gates are set on a user's home.

// gpgHome is a GnuPG home of the test's: the gateway's key, the partner's
// and a stranger's, all in one keyring.
type gpgHome struct {
	t    *testing.T
	home string
}

func newGPGHome(t *testing.T) *gpgHome {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatal("gpg not found: install Debian's gnupg (scripts/test does)")
	}
	home, err := os.MkdirTemp("", "gpg") // gpg-agent's socket path must stay short
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	return &gpgHome{t, home}
}

func (g *gpgHome) run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", g.home, "--batch", "--yes", "--pinentry-mode", "loopback",
		"--passphrase", "", "--trust-model", "always"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.Bytes()
}

func (g *gpgHome) fingerprint(uid string) string {
	g.t.Helper()
	for _, line := range strings.Split(string(g.run(nil, "--with-colons", "--fingerprint", uid)), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint for %s", uid)
	return ""
}

// gateKeys makes the gateway's, the partner's and a stranger's keys and
// writes the gateway's secret key and the partner's public key to dir.
func gateKeys(t *testing.T, dir string) (g *gpgHome, gatewayFile, partnerFile string) {
	g = newGPGHome(t)
	for _, uid := range []string{"gateway@s3sftpd.test", "acme@s3sftpd.test", "stranger@s3sftpd.test"} {
		g.run(nil, "--quick-gen-key", uid, "future-default", "default", "never")
	}
	gatewayFile, partnerFile = filepath.Join(dir, "gateway.asc"), filepath.Join(dir, "acme.asc")
	os.WriteFile(gatewayFile, g.run(nil, "--armor", "--export-secret-keys", "gateway@s3sftpd.test"), 0o600)
	os.WriteFile(partnerFile, g.run(nil, "--armor", "--export", "acme@s3sftpd.test"), 0o644)
	return g, gatewayFile, partnerFile
}

// closeRecords are the trail's close records of uploads of path.
func closeRecords(t *testing.T, g *gateway, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(g.auditFile())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r audit.Record
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Event == audit.EventClose && r.Mode == "write" && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// lastClose is the last close record of an upload of path.
func lastClose(t *testing.T, g *gateway, path string) audit.Record {
	t.Helper()
	var rs []audit.Record
	waitFor(t, 10*time.Second, "the close record of "+path, func() bool {
		rs = closeRecords(t, g, path)
		return len(rs) > 0
	})
	return rs[len(rs)-1]
}

// refused checks that the upload of path failed, the partner told want
// (OpenSSH's sftp prints only "Failure": the trail has the text it was
// sent) and the trail's reason is reason.
func refused(t *testing.T, g *gateway, out string, err error, path, want, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("upload of %s succeeded; want it refused\n%s", path, out)
	}
	r := lastClose(t, g, path)
	if !strings.HasPrefix(r.Error, want) || strings.Contains(r.Error, "openpgp:") || r.Reason != reason || r.Result != audit.ResultDenied {
		t.Errorf("close record of %s: result %q reason %q error %q; want denied, %q, %q", path, r.Result, r.Reason, r.Error, reason, want)
	}
}

func gatedUser(t *testing.T, home, extra string) []testUser {
	return []testUser{{name: "acme", home: home, keys: []string{pubKey(t, "ed25519")}, extra: extra}}
}

// TestE2E_ScannedUpload: in a scanned place, EICAR is refused with its
// signature's name and never reaches the bucket; a clean 100 MiB file is
// stored whole, its verdict and clamd's versions on the object and in the
// trail.
func TestE2E_ScannedUpload(t *testing.T) {
	s3srv := s3test.Start(t)
	clamd := clamdtest.Start(t, clamdtest.Options{StreamMaxLength: "4000M", MaxScanSize: "4000M"})
	g := startGateway(t, s3srv, gatewayOpts{
		users: gatedUser(t, "partners/acme/", "scan = true\n"),
		extra: "[scan]\nclamd = \"" + clamd.Address + "\"\n",
	})
	dir := t.TempDir()
	key := clientKeys["ed25519"]

	t.Run("eicar-refused", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, "eicar.com"), []byte(clamdtest.EICAR), 0o644)
		out, err := g.sftp(t, dir, "acme", key, "put eicar.com\n")
		refused(t, g, out, err, "/eicar.com", "upload refused: the file contains malware ("+clamdtest.EICARSignature+")", "malware")
		if _, ok := s3srv.Get(t, "partners/acme/eicar.com"); ok {
			t.Errorf("EICAR is in the bucket; want nothing stored")
		}
	})

	t.Run("clean-100MiB-stored", func(t *testing.T) {
		data := writeRandom(t, filepath.Join(dir, "big.bin"), 100<<20)
		g.mustSFTP(t, dir, "acme", key, "put big.bin\n")
		wantObjects(t, s3srv, "partners/acme/big.bin", map[string][]byte{"partners/acme/big.bin": data})
		r := lastClose(t, g, "/big.bin")
		if !strings.HasPrefix(r.Scan, "clean ClamAV ") || !strings.HasSuffix(r.Scan, "/27000") {
			t.Errorf("close record scan = %q; want clean with clamd's versions", r.Scan)
		}
		tags := objectTags(t, s3srv, "partners/acme/big.bin")
		if tags["s3sftpd-scan"] != r.Scan {
			t.Errorf("object tags %v; want s3sftpd-scan = %q", tags, r.Scan)
		}
	})

	t.Run("small-clean-verdict-in-metadata", func(t *testing.T) {
		data := writeRandom(t, filepath.Join(dir, "small.txt"), 1000) // one PutObject
		g.mustSFTP(t, dir, "acme", key, "put small.txt\n")
		wantObjects(t, s3srv, "partners/acme/small.txt", map[string][]byte{"partners/acme/small.txt": data})
		head, err := s3srv.Client(t).HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(s3srv.Bucket), Key: aws.String("partners/acme/small.txt")})
		if err != nil {
			t.Fatal(err)
		}
		if v := head.Metadata["s3sftpd-scan"]; !strings.HasPrefix(v, "clean ClamAV ") {
			t.Errorf("metadata %v; want s3sftpd-scan clean", head.Metadata)
		}
	})

	t.Run("filepart-scanned-before-rename", func(t *testing.T) {
		// WinSCP's way: a temporary name, then a rename onto the final one.
		out, err := g.sftp(t, dir, "acme", key, "put eicar.com eicar.com.filepart\n")
		refused(t, g, out, err, "/eicar.com.filepart", "upload refused: the file contains malware", "malware")
		if out, err := g.sftp(t, dir, "acme", key, "rename eicar.com.filepart eicar.com\n"); err == nil {
			t.Errorf("rename of the refused temporary file succeeded:\n%s", out)
		}
		if keys := s3srv.Keys(t, "partners/acme/eicar"); len(keys) > 0 {
			t.Errorf("bucket holds %q; want nothing of EICAR", keys)
		}
		data := writeRandom(t, filepath.Join(dir, "clean.bin"), 6<<20)
		g.mustSFTP(t, dir, "acme", key, "put clean.bin clean.bin.filepart\nrename clean.bin.filepart clean.bin\n")
		wantObjects(t, s3srv, "partners/acme/clean.bin", map[string][]byte{"partners/acme/clean.bin": data})
		if tags := objectTags(t, s3srv, "partners/acme/clean.bin"); !strings.HasPrefix(tags["s3sftpd-scan"], "clean ClamAV ") {
			t.Errorf("object tags %v; want s3sftpd-scan clean", tags)
		}
	})

	t.Run("psftp-and-rclone", func(t *testing.T) {
		for name, c := range map[string]clientOps{"psftp": psftpOps(t, g), "rclone": rcloneOps(t, g)} {
			out, err := c.put(filepath.Join(dir, "eicar.com"), "/"+name+"-eicar.com")
			if err == nil {
				t.Errorf("%s put of EICAR succeeded; want it refused\n%s", name, out)
			}
			data := writeRandom(t, filepath.Join(dir, name+".bin"), 7<<20)
			if out, err := c.put(filepath.Join(dir, name+".bin"), "/"+name+".bin"); err != nil {
				t.Errorf("%s put of a clean file: %v\n%s", name, err, out)
			}
			wantObjects(t, s3srv, "partners/acme/"+name, map[string][]byte{"partners/acme/" + name + ".bin": data})
		}
	})

	t.Run("clamd-stopped-mid-upload-refused", func(t *testing.T) {
		writeRandom(t, filepath.Join(dir, "mid.bin"), 64<<20)
		done := make(chan struct{})
		var out string
		var err error
		go func() {
			defer close(done)
			out, err = g.sftp(t, dir, "acme", key, "put mid.bin\n")
		}()
		waitFor(t, 30*time.Second, "the upload under way", func() bool { return len(s3srv.MultipartUploads(t)) > 0 })
		clamd.Stop()
		<-done
		refused(t, g, out, err, "/mid.bin", "upload refused: the malware scanner is unavailable", "scan_unavailable")
		if _, ok := s3srv.Get(t, "partners/acme/mid.bin"); ok {
			t.Errorf("mid.bin is in the bucket; want nothing stored")
		}
		// and with clamd already down, the next upload is refused the same way
		out, err = g.sftp(t, dir, "acme", key, "put eicar.com after.com\n")
		refused(t, g, out, err, "/after.com", "upload refused: the malware scanner is unavailable", "scan_unavailable")
	})
}

// TestE2E_ScanUnavailableAccepted: with on_unavailable = "accept" and
// clamd down, the file is stored and marked unscanned.
func TestE2E_ScanUnavailableAccepted(t *testing.T) {
	s3srv := s3test.Start(t)
	clamd := clamdtest.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{
		users: gatedUser(t, "partners/acme/", "scan = true\n"),
		extra: "[scan]\nclamd = \"" + clamd.Address + "\"\non_unavailable = \"accept\"\n",
	})
	clamd.Stop()
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "a.bin"), 6<<20)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put a.bin\n")
	wantObjects(t, s3srv, "partners/acme/a.bin", map[string][]byte{"partners/acme/a.bin": data})
	if r := lastClose(t, g, "/a.bin"); r.Scan != "unscanned" {
		t.Errorf("close record scan = %q; want unscanned", r.Scan)
	}
}

// TestE2E_DecryptingUpload: in a decrypting place that requires a
// signature, report.csv.pgp encrypted and signed by the partner with GnuPG
// is stored as report.csv in plaintext, the signer in the trail; unsigned,
// signed by another key, or altered, it is refused and nothing is stored.
func TestE2E_DecryptingUpload(t *testing.T) {
	s3srv := s3test.Start(t)
	keysDir := t.TempDir()
	gpg, gwKey, partnerKeys := gateKeys(t, keysDir)
	g := startGateway(t, s3srv, gatewayOpts{
		users: gatedUser(t, "partners/acme/", "pgp = \"decrypt\"\npgp_require_signature = true\npgp_public_keys_file = \""+partnerKeys+"\"\n"),
		extra: "[pgp]\nprivate_key_file = \"" + gwKey + "\"\n",
	})
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	plain := bytes.Repeat([]byte("patient,claim,amount\n1,2,3.00\n"), 400_000) // 12 MiB: several parts, compressible
	encrypt := func(name string, args ...string) {
		out := gpg.run(plain, append([]string{"--encrypt", "-r", "gateway@s3sftpd.test", "--output", "-"}, args...)...)
		os.WriteFile(filepath.Join(dir, name), out, 0o644)
	}

	t.Run("signed-stored-decrypted", func(t *testing.T) {
		encrypt("report.csv.pgp", "--sign", "-u", "acme@s3sftpd.test")
		g.mustSFTP(t, dir, "acme", key, "put report.csv.pgp\n")
		wantObjects(t, s3srv, "partners/acme/report.csv", map[string][]byte{"partners/acme/report.csv": plain})
		r := lastClose(t, g, "/report.csv.pgp")
		if want := gpg.fingerprint("acme@s3sftpd.test"); r.Signer != want {
			t.Errorf("close record signer = %q; want the partner's %s", r.Signer, want)
		}
		if r.Key != "partners/acme/report.csv" {
			t.Errorf("close record key = %q; want the name without .pgp", r.Key)
		}
		if sum := sha256.Sum256(plain); r.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("close record sha256 = %s; want the plaintext's %x", r.SHA256, sum)
		}
	})

	t.Run("psftp-and-rclone", func(t *testing.T) {
		encrypt("clients.csv.pgp", "--sign", "-u", "acme@s3sftpd.test")
		for name, c := range map[string]clientOps{"psftp": psftpOps(t, g), "rclone": rcloneOps(t, g)} {
			if out, err := c.put(filepath.Join(dir, "clients.csv.pgp"), "/"+name+".csv.pgp"); err != nil {
				t.Errorf("%s put: %v\n%s", name, err, out)
			}
			wantObjects(t, s3srv, "partners/acme/"+name, map[string][]byte{"partners/acme/" + name + ".csv": plain})
		}
	})

	for _, tc := range []struct {
		name, file, want, reason string
		args                     []string
		tamper                   bool
	}{
		{"unsigned-refused", "unsigned.csv.gpg", "upload refused: the file is not signed", "pgp_signature", nil, false},
		{"other-signer-refused", "stranger.csv.pgp", "upload refused: the file is signed by a key that is not one of yours", "pgp_signature",
			[]string{"--sign", "-u", "stranger@s3sftpd.test"}, false},
		{"tampered-refused", "tampered.csv.pgp", "upload refused: the file is damaged or was altered", "pgp",
			[]string{"--sign", "-u", "acme@s3sftpd.test", "--compress-algo", "none"}, true},
		{"not-openpgp-refused", "plain.csv.pgp", "upload refused: the file is not an OpenPGP message", "pgp", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.name == "not-openpgp-refused":
				os.WriteFile(filepath.Join(dir, tc.file), plain, 0o644)
			default:
				encrypt(tc.file, tc.args...)
			}
			if tc.tamper {
				b, _ := os.ReadFile(filepath.Join(dir, tc.file))
				b[len(b)/2] ^= 0x01
				os.WriteFile(filepath.Join(dir, tc.file), b, 0o644)
			}
			out, err := g.sftp(t, dir, "acme", key, "put "+tc.file+"\n")
			refused(t, g, out, err, "/"+tc.file, tc.want, tc.reason)
			stored := "partners/acme/" + strings.TrimSuffix(strings.TrimSuffix(tc.file, ".pgp"), ".gpg")
			if _, ok := s3srv.Get(t, stored); ok {
				t.Errorf("%s is in the bucket; want nothing stored", stored)
			}
		})
	}
}

// objectTags is every tag of the current version of key.
func objectTags(t *testing.T, s3srv *s3test.Server, key string) map[string]string {
	t.Helper()
	out, err := s3srv.Client(t).GetObjectTagging(t.Context(), &s3.GetObjectTaggingInput{Bucket: aws.String(s3srv.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("tags of %s: %v", key, err)
	}
	tags := map[string]string{}
	for _, tg := range out.TagSet {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return tags
}

// TestE2E_DecryptedThenScanned: in a place that decrypts and scans (the
// issue's /inbound), the scan sees the plaintext: EICAR encrypted and
// signed by the partner is refused as malware; a clean file is stored
// decrypted with both the verdict and the signer.
func TestE2E_DecryptedThenScanned(t *testing.T) {
	s3srv := s3test.Start(t)
	clamd := clamdtest.Start(t)
	gpg, gwKey, partnerKeys := gateKeys(t, t.TempDir())
	g := startGateway(t, s3srv, gatewayOpts{
		users: gatedUser(t, "partners/acme/", "scan = true\npgp = \"decrypt\"\npgp_require_signature = true\npgp_public_keys_file = \""+partnerKeys+"\"\n"),
		extra: "[scan]\nclamd = \"" + clamd.Address + "\"\n[pgp]\nprivate_key_file = \"" + gwKey + "\"\n",
	})
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	seal := func(name string, plain []byte) {
		b := gpg.run(plain, "--encrypt", "--sign", "-r", "gateway@s3sftpd.test", "-u", "acme@s3sftpd.test", "--output", "-")
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	seal("eicar.com.pgp", []byte(clamdtest.EICAR))
	out, err := g.sftp(t, dir, "acme", key, "put eicar.com.pgp\n")
	refused(t, g, out, err, "/eicar.com.pgp", "upload refused: the file contains malware ("+clamdtest.EICARSignature+")", "malware")
	if keys := s3srv.Keys(t, "partners/acme/"); len(keys) > 0 {
		t.Errorf("bucket holds %q; want nothing", keys)
	}
	plain := []byte("patient,claim\n1,2\n")
	seal("claims.csv.gpg", plain)
	g.mustSFTP(t, dir, "acme", key, "put claims.csv.gpg\n")
	wantObjects(t, s3srv, "partners/acme/", map[string][]byte{"partners/acme/claims.csv": plain})
	if r := lastClose(t, g, "/claims.csv.gpg"); !strings.HasPrefix(r.Scan, "clean ") || r.Signer != gpg.fingerprint("acme@s3sftpd.test") {
		t.Errorf("close record scan %q signer %q; want clean and the partner's fingerprint", r.Scan, r.Signer)
	}
}

// TestE2E_EncryptingDownload: from an encrypting place, a file is listed
// with ".pgp" and the exact size the client then receives, and what OpenSSH
// sftp, psftp and rclone download GnuPG decrypts to the stored bytes, with
// the gateway's good signature; a resumed download (reget) is refused.
func TestE2E_EncryptingDownload(t *testing.T) {
	s3srv := s3test.Start(t)
	keysDir := t.TempDir()
	gpg, gwKey, partnerKeys := gateKeys(t, keysDir)
	g := startGateway(t, s3srv, gatewayOpts{
		users: gatedUser(t, "partners/acme/", "pgp = \"encrypt\"\npgp_public_keys_file = \""+partnerKeys+"\"\n"),
		extra: "[pgp]\nprivate_key_file = \"" + gwKey + "\"\n",
	})
	plain := make([]byte, 9<<20+12345)
	for i := range plain {
		plain[i] = byte(i * 7)
	}
	s3srv.Put(t, "partners/acme/claims.csv", plain)
	dir := t.TempDir()
	key := clientKeys["ed25519"]

	out := g.mustSFTP(t, dir, "acme", key, "ls -l\n")
	var size int
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 9 && f[len(f)-1] == "claims.csv.pgp" {
			size, _ = strconv.Atoi(f[4])
		}
	}
	if size == 0 {
		t.Fatalf("ls -l does not show claims.csv.pgp:\n%s", out)
	}
	check := func(t *testing.T, file string) {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != size {
			t.Errorf("downloaded %d bytes; the listing said %d", len(b), size)
		}
		got := gpg.run(b, "--decrypt")
		if !bytes.Equal(got, plain) {
			t.Errorf("gpg decrypted %d bytes; want the %d stored", len(got), len(plain))
		}
		verified := gpg.runStatus(b, "--decrypt", "--output", "/dev/null")
		if !strings.Contains(verified, "GOODSIG") || !strings.Contains(verified, gpg.fingerprint("gateway@s3sftpd.test")) {
			t.Errorf("gpg status has no good signature by the gateway:\n%s", verified)
		}
	}
	t.Run("openssh", func(t *testing.T) {
		g.mustSFTP(t, dir, "acme", key, "get claims.csv.pgp\n")
		check(t, filepath.Join(dir, "claims.csv.pgp"))
	})
	t.Run("psftp", func(t *testing.T) {
		c := psftpOps(t, g)
		local := filepath.Join(t.TempDir(), "p.pgp")
		if out, err := c.get("/claims.csv.pgp", local); err != nil {
			t.Fatalf("psftp get: %v\n%s", err, out)
		}
		check(t, local)
	})
	t.Run("rclone", func(t *testing.T) {
		c := rcloneOps(t, g)
		local := filepath.Join(t.TempDir(), "r.pgp")
		if out, err := c.get("/claims.csv.pgp", local); err != nil {
			t.Fatalf("rclone copyto: %v\n%s", err, out)
		}
		check(t, local)
	})
	t.Run("reget-refused", func(t *testing.T) {
		part := filepath.Join(dir, "claims.csv.pgp")
		b, _ := os.ReadFile(part)
		os.WriteFile(part, b[:1<<20], 0o644)
		out, err := g.sftp(t, dir, "acme", key, "reget claims.csv.pgp\n")
		if err == nil {
			got, _ := os.ReadFile(part)
			if bytes.Equal(got, b) { // consistent would do too, but each run makes a new message
				t.Fatalf("reget succeeded with the same bytes; the gateway refuses resumes of encrypted downloads")
			}
			t.Fatalf("reget succeeded; want it refused\n%s", out)
		}
	})
}

// runStatus runs gpg and returns its machine-readable status lines.
func (g *gpgHome) runStatus(stdin []byte, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", g.home, "--batch", "--yes", "--trust-model", "always", "--status-fd", "1"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("gpg %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}
