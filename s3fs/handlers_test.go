package s3fs

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func writeFile(t *testing.T, c *sftp.Client, path string, data []byte) error {
	t.Helper()
	f, err := c.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readFile(t *testing.T, c *sftp.Client, path string) []byte {
	t.Helper()
	f, err := c.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return buf.Bytes()
}

func TestHandlers_RoundTrip(t *testing.T) {
	for _, mode := range []string{ChecksumsCompat, ChecksumsAWS} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode)
			c := e.session(t, "partners/acme/", auth.AllPerms)
			for _, size := range []int{0, 1, 32 << 10, 5<<20 - 1, 5 << 20, 5<<20 + 1, 17<<20 + 12345} {
				data := randBytes(size)
				if err := writeFile(t, c, "/f.bin", data); err != nil {
					t.Fatalf("size %d: write: %v", size, err)
				}
				got, ok := e.s3.Get(t, "partners/acme/f.bin")
				if !ok || !bytes.Equal(got, data) {
					t.Fatalf("size %d: stored %d bytes (found %v); want %d identical bytes", size, len(got), ok, size)
				}
				if back := readFile(t, c, "/f.bin"); !bytes.Equal(back, data) {
					t.Fatalf("size %d: read back %d bytes, differ; want identical", size, len(back))
				}
				fi, err := c.Stat("/f.bin")
				if err != nil || fi.Size() != int64(size) {
					t.Fatalf("size %d: stat = %v, %v; want size %d", size, fi, err, size)
				}
			}
			if ups := e.s3.MultipartUploads(t); len(ups) != 0 {
				t.Errorf("multipart uploads left open: %v", ups)
			}
		})
	}
}

func TestHandlers_DirsAndNames(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Mkdir("/in"))
	if err := c.Mkdir("/in"); err == nil {
		t.Errorf("second mkdir /in succeeded; want an error")
	}
	if entries, err := c.ReadDir("/in"); err != nil || len(entries) != 0 { // rclone lists a directory before rmdir
		t.Errorf("ls of an empty directory = %v, %v; want no entries and no error", entries, err)
	}
	must(writeFile(t, c, "/in/a b#%&+é.csv", []byte("x")))
	must(writeFile(t, c, "/top.txt", []byte("hello")))
	entries, err := c.ReadDir("/")
	must(err)
	var names []string
	for _, fi := range entries {
		names = append(names, fi.Name())
		if fi.Name() == "in" && !fi.IsDir() {
			t.Errorf("in is not a dir")
		}
		if fi.Name() == "top.txt" && fi.Size() != 5 {
			t.Errorf("top.txt size = %d; want 5", fi.Size())
		}
	}
	slices.Sort(names)
	if want := []string{"in", "top.txt"}; !slices.Equal(names, want) {
		t.Errorf("ls / = %v; want %v", names, want)
	}
	if err := c.RemoveDirectory("/in"); err == nil {
		t.Errorf("rmdir of non-empty dir succeeded")
	}
	must(c.Rename("/in/a b#%&+é.csv", "/in/renamed.csv"))
	if got, ok := e.s3.Get(t, "p/in/renamed.csv"); !ok || string(got) != "x" {
		t.Errorf("renamed object = %q, %v; want x", got, ok)
	}
	if _, ok := e.s3.Get(t, "p/in/a b#%&+é.csv"); ok {
		t.Errorf("old name still exists after rename")
	}
	must(c.PosixRename("/top.txt", "/in/renamed.csv")) // onto an existing name
	if got, _ := e.s3.Get(t, "p/in/renamed.csv"); string(got) != "hello" {
		t.Errorf("posix-rename onto existing: content = %q; want hello", got)
	}
	must(c.Rename("/in", "/moved"))
	if keys := e.s3.Keys(t, "p/"); !slices.Equal(keys, []string{"p/moved/", "p/moved/renamed.csv"}) {
		t.Errorf("keys after dir rename = %v", keys)
	}
	must(c.Remove("/moved/renamed.csv"))
	must(c.RemoveDirectory("/moved"))
	if keys := e.s3.Keys(t, "p/"); len(keys) != 0 {
		t.Errorf("keys left = %v; want none", keys)
	}
	if err := c.Remove("/nope"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("remove missing = %v; want not exist", err)
	}
	must(c.Chmod("/", 0o700)) // setstat is a no-op that succeeds
	if err := c.Symlink("/a", "/b"); err == nil {
		t.Errorf("symlink succeeded; want refused")
	}
	if _, err := c.OpenFile("/rw", os.O_RDWR|os.O_CREATE); err == nil {
		t.Errorf("read-write open succeeded; want refused")
	}
	vfs, err := c.StatVFS("/")
	must(err)
	if vfs.FreeSpace() < 1<<40 {
		t.Errorf("statvfs free = %d; want huge", vfs.FreeSpace())
	}
	_ = io.EOF
}
