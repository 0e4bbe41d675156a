package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// writeKEK writes a fresh key-encryption key file, mode 0600.
func writeKEK(t *testing.T, path string) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runTool is runToolCode with a non-zero exit status as an error.
func runTool(t *testing.T, s3srv *s3test.Server, args ...string) (string, string, error) {
	t.Helper()
	stdout, stderr, code := runToolCode(t, s3srv, args...)
	if code != 0 {
		return stdout, stderr, fmt.Errorf("s3sftpd %s: exit status %d", args[0], code)
	}
	return stdout, stderr, nil
}

// TestE2E_Envelope: with envelope encryption and encrypted names, OpenSSH
// sftp uploads, lists (plaintext sizes), downloads, resumes and renames as
// usual; the bucket holds neither plaintext nor names; `s3sftpd decrypt`
// recovers every file with the KEK alone; `s3sftpd rewrap` moves data keys
// to a new KEK, after which the old one is no longer needed for content.
func TestE2E_Envelope(t *testing.T) {
	s3srv := s3test.Start(t)
	keyDir := t.TempDir()
	oldKEK, newKEK := filepath.Join(keyDir, "old.kek"), filepath.Join(keyDir, "new.kek")
	writeKEK(t, oldKEK)
	writeKEK(t, newKEK)
	g := startGateway(t, s3srv, gatewayOpts{enc: fmt.Sprintf("mode = \"envelope\"\nnames = \"encrypted\"\nkek_file = %q\n", oldKEK)})
	dir := t.TempDir()
	big := writeRandom(t, filepath.Join(dir, "SMITH_JOHN_labs.csv"), 6<<20+17)
	small := writeRandom(t, filepath.Join(dir, "Doe Jane.txt"), 1000)
	os.WriteFile(filepath.Join(dir, "empty.txt"), nil, 0o644)
	out := g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], `mkdir "Patients 2026"
put SMITH_JOHN_labs.csv "Patients 2026/SMITH_JOHN_labs.csv"
put "Doe Jane.txt"
put empty.txt
ls -l "Patients 2026"
ls -l
get "Patients 2026/SMITH_JOHN_labs.csv" back.csv
rename "Doe Jane.txt" "Doe Jane (renamed).txt"
get "Doe Jane (renamed).txt" small.txt
get empty.txt empty-back.txt
`)
	if !regexp.MustCompile(`-rw-r--r-- .* 6291473 .* SMITH_JOHN_labs\.csv`).MatchString(out) ||
		!regexp.MustCompile(`-rw-r--r-- .* 1000 .* Doe Jane\.txt`).MatchString(out) {
		t.Errorf("ls -l does not show the files with their plaintext sizes:\n%s", out)
	}
	sameFile(t, filepath.Join(dir, "back.csv"), big)
	sameFile(t, filepath.Join(dir, "small.txt"), small)
	sameFile(t, filepath.Join(dir, "empty-back.txt"), nil)
	os.WriteFile(filepath.Join(dir, "partial.csv"), big[:1<<20+5], 0o644)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "reget \"Patients 2026/SMITH_JOHN_labs.csv\" partial.csv\n")
	sameFile(t, filepath.Join(dir, "partial.csv"), big)

	keys := s3srv.Keys(t, "partners/acme/")
	var bigKey string
	for _, k := range keys {
		low := strings.ToLower(k)
		for _, word := range []string{"smith", "john", "labs", "doe", "jane", "patients", "empty", ".csv", ".txt"} {
			if strings.Contains(low, word) {
				t.Errorf("object key %q holds %q", k, word)
			}
		}
		if data, _ := s3srv.Get(t, k); len(data) > int(6<<20) {
			bigKey = k
			if bytes.Contains(data, big[:100]) {
				t.Errorf("%s holds plaintext", k)
			}
		}
	}
	if bigKey == "" {
		t.Fatalf("no large object among %q", keys)
	}

	// decrypt: one object to stdout, and the whole home with its names.
	stdout, stderr, err := runTool(t, s3srv, "decrypt", "-config", g.config, "s3://"+s3srv.Bucket+"/"+bigKey)
	if err != nil || stdout != string(big) {
		t.Fatalf("decrypt %s: %d bytes, %v\n%s", bigKey, len(stdout), err, stderr)
	}
	outDir := t.TempDir()
	if stdout, stderr, err := runTool(t, s3srv, "decrypt", "-config", g.config, "-out", outDir, "s3://"+s3srv.Bucket+"/partners/acme/"); err != nil {
		t.Fatalf("decrypt the home: %v\n%s%s", err, stdout, stderr)
	}
	sameFile(t, filepath.Join(outDir, "Patients 2026", "SMITH_JOHN_labs.csv"), big)
	sameFile(t, filepath.Join(outDir, "Doe Jane (renamed).txt"), small)
	sameFile(t, filepath.Join(outDir, "empty.txt"), nil)

	// rewrap under the new KEK; names keep the old key (they must never change).
	g.rewrite(t, func(o *gatewayOpts) {
		o.enc = fmt.Sprintf("mode = \"envelope\"\nnames = \"encrypted\"\nkek_file = %q\nold_kek_files = [%q]\nnames_kek_file = %q\n", newKEK, oldKEK, oldKEK)
	})
	stdout, stderr, err = runTool(t, s3srv, "rewrap", "-config", g.config)
	if err != nil || !strings.Contains(stdout, "3 rewrapped") {
		t.Fatalf("rewrap: %v\n%s%s", err, stdout, stderr)
	}
	if stdout, _, _ := runTool(t, s3srv, "rewrap", "-config", g.config); !strings.Contains(stdout, "0 rewrapped, 3 already under the current key") {
		t.Errorf("second rewrap: %s", stdout)
	}
	g.rewrite(t, func(o *gatewayOpts) {
		o.enc = fmt.Sprintf("mode = \"envelope\"\nnames = \"encrypted\"\nkek_file = %q\nnames_kek_file = %q\n", newKEK, oldKEK)
	})
	stdout, stderr, err = runTool(t, s3srv, "decrypt", "-config", g.config, "s3://"+s3srv.Bucket+"/"+bigKey)
	if err != nil || stdout != string(big) {
		t.Fatalf("decrypt after rewrap with the new KEK only: %d bytes, %v\n%s", len(stdout), err, stderr)
	}

	// Copied under another name, bytes and metadata: decrypt refuses it,
	// as the data key is bound to the name it was written under.
	data, _ := s3srv.Get(t, bigKey)
	client := s3srv.Client(t)
	head, err := client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &s3srv.Bucket, Key: &bigKey})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &s3srv.Bucket, Key: &key,
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), Metadata: head.Metadata}); err != nil {
			t.Fatal(err)
		}
	}
	put("partners/acme/moved", data)
	if stdout, stderr, err := runTool(t, s3srv, "decrypt", "-config", g.config, "s3://"+s3srv.Bucket+"/partners/acme/moved"); err == nil || !strings.Contains(stderr, "failed authentication") || stdout != "" {
		t.Errorf("decrypt of an object copied to another name: %v, %d bytes out\n%s", err, len(stdout), stderr)
	}

	// Tampered in place: decrypt fails and says why.
	data[len(data)/2] ^= 1
	put(bigKey, data)
	if stdout, stderr, err := runTool(t, s3srv, "decrypt", "-config", g.config, "s3://"+s3srv.Bucket+"/"+bigKey); err == nil || !strings.Contains(stderr, "failed authentication") || len(stdout) >= len(big) {
		t.Errorf("decrypt of a tampered object: %v, %d bytes out\n%s", err, len(stdout), stderr)
	}
}

// TestE2E_EnvelopeResume: OpenSSH sftp killed while uploading an
// envelope-encrypted temporary file, then `reput`: the resumed parts are
// sealed in a new nonce epoch, and the file renamed to its final name
// downloads and decrypts whole.
func TestE2E_EnvelopeResume(t *testing.T) {
	s3srv := s3test.Start(t)
	kek := filepath.Join(t.TempDir(), "kek")
	writeKEK(t, kek)
	g := startGateway(t, s3srv, gatewayOpts{enc: fmt.Sprintf("mode = \"envelope\"\nkek_file = %q\n", kek)}) // parts of 5 MiB
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "full.bin"), 16<<20+9)
	key := clientKeys["ed25519"]
	cmd := exec.Command("sftp", append(g.sshOpts(key), "-P", g.port, "-l", "40000", "-b", "-", "acme@127.0.0.1")...) // 5 MB/s
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("put full.bin f.bin.filepart\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	client := s3srv.Client(t)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no part of f.bin.filepart reached S3 in 30s")
		}
		ups, err := client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &s3srv.Bucket, Prefix: aws.String("partners/acme/f.bin")})
		if err != nil || len(ups.Uploads) != 1 {
			continue
		}
		parts, err := client.ListParts(t.Context(), &s3.ListPartsInput{Bucket: &s3srv.Bucket, Key: ups.Uploads[0].Key, UploadId: ups.Uploads[0].UploadId})
		if err == nil && len(parts.Parts) > 0 {
			break
		}
	}
	cmd.Process.Kill() // the connection breaks with the file open
	cmd.Wait()
	// the gateway notices the disconnect and files the partial upload: reput
	// refuses to resume a file it does not see yet, so wait for it to be listed
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("f.bin.filepart not listed after the disconnect")
		}
		if out, _ := g.sftp(t, dir, "acme", key, "ls -l f.bin.filepart\n"); strings.Contains(out, " f.bin.filepart") {
			break
		}
	}
	g.mustSFTP(t, dir, "acme", key, "reput full.bin f.bin.filepart\nrename f.bin.filepart f.bin\nget f.bin back.bin\n")
	sameFile(t, filepath.Join(dir, "back.bin"), data)
	stdout, stderr, err := runTool(t, s3srv, "decrypt", "-config", g.config, "s3://"+s3srv.Bucket+"/partners/acme/f.bin")
	if err != nil || stdout != string(data) {
		t.Errorf("decrypt of the resumed file: %d bytes, %v\n%s", len(stdout), err, stderr)
	}
}

// TestE2E_EnvelopeKMS: with kms_key_id, the gateway takes data keys from KMS
// (local-kms, reached through AWS_ENDPOINT_URL_KMS like any KMS endpoint);
// OpenSSH sftp round-trips a file and `s3sftpd decrypt` recovers it.
func TestE2E_EnvelopeKMS(t *testing.T) {
	s3srv := s3test.Start(t)
	endpoint := s3test.StartKMS(t)
	t.Setenv("AWS_ENDPOINT_URL_KMS", endpoint)
	keyARN := s3test.NewKMSKey(t, s3test.KMSClient(endpoint))
	g := startGateway(t, s3srv, gatewayOpts{enc: fmt.Sprintf("mode = \"envelope\"\nkms_key_id = %q\n", keyARN)})
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "f.bin"), 5<<20+3)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put f.bin\nget f.bin back.bin\n")
	sameFile(t, filepath.Join(dir, "back.bin"), data)
	head, err := s3srv.Client(t).HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &s3srv.Bucket, Key: aws.String("partners/acme/f.bin")})
	if err != nil || !strings.HasPrefix(head.Metadata["s3sftpd-kek"], "kms:") {
		t.Fatalf("stored metadata %v, %v; want a KMS-wrapped data key", head.Metadata, err)
	}
	stdout, stderr, err := runTool(t, s3srv, "decrypt", "-config", g.config, "s3://"+s3srv.Bucket+"/partners/acme/f.bin")
	if err != nil || stdout != string(data) {
		t.Fatalf("decrypt: %d bytes, %v\n%s", len(stdout), err, stderr)
	}
}

// TestE2E_EnvelopeRandomReads: paramiko seeks and reads an envelope-encrypted
// file at offsets inside, across and at the ends of chunks (64 KiB) and read
// blocks (1 MiB), past its end too; every read holds the plaintext's bytes.
func TestE2E_EnvelopeRandomReads(t *testing.T) {
	s3srv := s3test.Start(t)
	kek := filepath.Join(t.TempDir(), "kek")
	writeKEK(t, kek)
	g := startGateway(t, s3srv, gatewayOpts{enc: fmt.Sprintf("mode = \"envelope\"\nkek_file = %q\n", kek)})
	dir := t.TempDir()
	const size = 3<<20 + 12345
	data := writeRandom(t, filepath.Join(dir, "f.bin"), size)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put f.bin\n")

	reads := [][2]int{{0, 100}, {65530, 20}, {65536, 65536}, {1<<20 - 3, 70000}, {2*65552 + 1, 1},
		{size - 10, 100}, {size, 10}, {1 << 20, 1 << 20}, {12345, 300000}}
	for range 12 {
		var b [8]byte
		rand.Read(b[:])
		off := int(uint64(b[0])<<16|uint64(b[1])<<8|uint64(b[2])) % size
		reads = append(reads, [2]int{off, 1 + (int(b[3])<<8 | int(b[4]))})
	}
	args := []string{"read_at", "f.bin"}
	var want strings.Builder
	for _, r := range reads {
		args = append(args, fmt.Sprintf("%d:%d", r[0], r[1]))
		part := data[min(r[0], size):min(r[0]+r[1], size)]
		fmt.Fprintf(&want, "%d %d %x\n", r[0], len(part), sha256.Sum256(part))
	}
	got, err := paramikoOp(t, g)(args...)
	if err != nil {
		t.Fatalf("paramiko read_at: %v\n%s", err, got)
	}
	if got != want.String() {
		t.Errorf("paramiko reads (offset length sha256):\n%s\nwant:\n%s", got, want.String())
	}
}

// TestE2E_RewrapToKMS: files uploaded under kek_file in a versioned bucket;
// the config then takes data keys from KMS and keeps the KEK in
// old_kek_files; `s3sftpd rewrap` moves the current file to KMS and reports
// the overwritten version still under the KEK, naming its file; a gateway
// with KMS alone serves the file's bytes to OpenSSH sftp.
func TestE2E_RewrapToKMS(t *testing.T) {
	s3srv := s3test.StartVersioned(t)
	endpoint := s3test.StartKMS(t)
	t.Setenv("AWS_ENDPOINT_URL_KMS", endpoint)
	keyARN := s3test.NewKMSKey(t, s3test.KMSClient(endpoint))
	kek := filepath.Join(t.TempDir(), "old.kek")
	writeKEK(t, kek)
	g := startGateway(t, s3srv, gatewayOpts{enc: fmt.Sprintf("mode = \"envelope\"\nkek_file = %q\n", kek)})
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "f.bin"), 1000)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put f.bin\n")
	data := writeRandom(t, filepath.Join(dir, "f.bin"), 5<<20+3)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put f.bin\n")

	g.rewrite(t, func(o *gatewayOpts) {
		o.enc = fmt.Sprintf("mode = \"envelope\"\nkms_key_id = %q\nold_kek_files = [%q]\n", keyARN, kek)
	})
	stdout, stderr, err := runTool(t, s3srv, "rewrap", "-config", g.config)
	home := "s3://" + s3srv.Bucket + "/partners/acme/: "
	older := regexp.MustCompile(regexp.QuoteMeta(home) + `1 older versions still need old key [0-9a-f]{16} \(` +
		regexp.QuoteMeta(kek) + `\); keep it in old_kek_files until they expire \(lifecycle NoncurrentVersionExpiration\)`)
	if err != nil || !strings.Contains(stdout, home+"1 rewrapped, 0 already under the current key") || !older.MatchString(stdout) {
		t.Fatalf("rewrap: %v\n%s%s", err, stdout, stderr)
	}
	head, err := s3srv.Client(t).HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &s3srv.Bucket, Key: aws.String("partners/acme/f.bin")})
	if err != nil || head.Metadata["s3sftpd-kek"] != "kms:"+keyARN {
		t.Fatalf("metadata after rewrap %v, %v; want the data key under %s", head.Metadata, err, keyARN)
	}

	kmsOnly := startGateway(t, s3srv, gatewayOpts{enc: fmt.Sprintf("mode = \"envelope\"\nkms_key_id = %q\n", keyARN)})
	kmsOnly.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "get f.bin back.bin\n")
	sameFile(t, filepath.Join(dir, "back.bin"), data)
}
