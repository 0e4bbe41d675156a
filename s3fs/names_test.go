package s3fs

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/crypt"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// TestNames_NoPHIInKeys: with encrypted names (and envelope encryption),
// files and folders named like PHI round-trip through upload, listing,
// stat, rename and download, and no object key in the bucket holds any
// name, or any run of 4 or more of its characters (in any case).
func TestNames_NoPHIInKeys(t *testing.T) {
	srv := s3test.Start(t)
	cfg := testConfig(srv, ChecksumsCompat)
	// A fixed key: encrypted names are random-looking base32, and with a
	// random key about one run in twenty would hold some 4-letter piece of
	// a name by chance. With this one the keys are the same on every run, so
	// any run of a name found in them is the gateway's leak, not chance.
	key := sha256.Sum256([]byte("s3sftpd TestNames_NoPHIInKeys"))
	kek, err := crypt.NewKEK(key[:])
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys, cfg.Envelope, cfg.NameKey = crypt.NewKeyring(kek), true, kek
	e := envOn(t, srv, cfg)
	c := e.session(t, "partners/acme/", auth.AllPerms)

	names := []string{"SMITH_JOHN_1970-01-01_labs.csv", "Doe, Jane (MRN 4417).pdf", "Müller-Lüdenscheidt.txt", "patients 2026", "x.csv"}
	if err := c.Mkdir("/patients 2026"); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"/SMITH_JOHN_1970-01-01_labs.csv":                 randBytes(1000),
		"/patients 2026/Doe, Jane (MRN 4417).pdf":         randBytes(2*minPartSize + 5),
		"/patients 2026/Müller-Lüdenscheidt.txt.filepart": randBytes(10),
	}
	for p, data := range files {
		if err := writeFile(t, c, p, data); err != nil {
			t.Fatalf("upload %s: %v", p, err)
		}
	}
	if err := c.Rename("/patients 2026/Müller-Lüdenscheidt.txt.filepart", "/patients 2026/Müller-Lüdenscheidt.txt"); err != nil {
		t.Fatal(err)
	}
	files["/patients 2026/Müller-Lüdenscheidt.txt"] = files["/patients 2026/Müller-Lüdenscheidt.txt.filepart"]
	delete(files, "/patients 2026/Müller-Lüdenscheidt.txt.filepart")
	if err := writeFile(t, c, "/x.csv", []byte("short")); err != nil {
		t.Fatal(err)
	}
	files["/x.csv"] = []byte("short")

	var listed []string
	for _, dir := range []string{"/", "/patients 2026"} {
		entries, err := c.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range entries {
			listed = append(listed, fi.Name())
		}
	}
	slices.Sort(listed)
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("listed %q; want %q", listed, want)
	}
	for p, data := range files {
		if fi, err := c.Stat(p); err != nil || fi.Size() != int64(len(data)) {
			t.Errorf("stat %s = %v, %v", p, fi, err)
		}
		if got := readFile(t, c, p); !bytes.Equal(got, data) {
			t.Errorf("download of %s differs", p)
		}
	}

	keys := srv.Keys(t, "")
	if len(keys) < len(files) {
		t.Fatalf("bucket holds %d keys: %q", len(keys), keys)
	}
	for _, k := range keys {
		rel := strings.ToLower(strings.TrimPrefix(k, "partners/acme/"))
		for _, n := range append(names, "Müller-Lüdenscheidt.txt.filepart") {
			n = strings.ToLower(n)
			for i := 0; i+4 <= len(n); i++ {
				if strings.Contains(rel, n[i:i+4]) {
					t.Errorf("key %q holds %q from the name %q", k, n[i:i+4], n)
				}
			}
		}
	}

	if err := writeFile(t, c, "/"+strings.Repeat("n", vfs.MaxPlainSegment), []byte("x")); err != nil {
		t.Errorf("upload of a %d-byte name: %v", vfs.MaxPlainSegment, err)
	}
	for _, n := range []int{vfs.MaxPlainSegment + 1, 600} {
		err = writeFile(t, c, "/"+strings.Repeat("n", n), []byte("x"))
		if err == nil || !strings.Contains(err.Error(), "too long for storage once encrypted") {
			t.Errorf("upload of a %d-byte name = %v; want a refusal saying it is too long once encrypted", n, err)
		}
	}
}
