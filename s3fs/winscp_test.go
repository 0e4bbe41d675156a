package s3fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// TestWinSCP_TemporaryNameUpload replays WinSCP's upload of a file over
// 100 KB ("transfer to temporary filename" and "preserve timestamp" on): stat
// of the target and statvfs, upload as name.filepart, setstat of mtime and
// permissions, delete of the existing target, rename (plain and posix-rename).
func TestWinSCP_TemporaryNameUpload(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	mtime := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		size   int
		exists bool
		rename func(c *sftp.Client, from, to string) error
		open   bool // the time is set before CLOSE (OpenSSH put -p, lftp), not after
	}{
		{"new-rename", 200 << 10, false, (*sftp.Client).Rename, false},
		{"overwrite-rename", 7 << 20, true, (*sftp.Client).Rename, false},
		{"overwrite-posix-rename", 7 << 20, true, (*sftp.Client).PosixRename, false},
		{"big-posix-rename", 140 << 20, false, (*sftp.Client).PosixRename, false}, // over copyPartSize: a multipart copy
		{"time-set-while-open", 7 << 20, false, (*sftp.Client).PosixRename, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "/" + tc.name + ".dat"
			key := "p" + name
			if tc.exists {
				if err := writeFile(t, c, name, randBytes(1000)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Stat(name); tc.exists != (err == nil) || (!tc.exists && !errors.Is(err, os.ErrNotExist)) {
				t.Fatalf("stat of the target = %v; want exists=%v", err, tc.exists)
			}
			if _, err := c.StatVFS("/"); err != nil {
				t.Fatalf("statvfs: %v", err)
			}
			data := randBytes(tc.size)
			f, err := c.OpenFile(name+".filepart", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if tc.open {
				if err := c.Chtimes(name+".filepart", mtime, mtime); err != nil { // reaches the open upload, as FSETSTAT does
					t.Fatalf("setstat mtime while open: %v", err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if !tc.open {
				if err := c.Chtimes(name+".filepart", mtime, mtime); err != nil {
					t.Fatalf("setstat mtime: %v", err)
				}
			}
			if err := c.Chmod(name+".filepart", 0o644); err != nil {
				t.Fatalf("setstat permissions: %v", err)
			}
			if fi, err := c.Stat(name + ".filepart"); err != nil || !fi.ModTime().Equal(mtime) {
				t.Errorf("stat of the temporary file = %v, %v; want mtime %v", fi.ModTime(), err, mtime)
			}
			if tc.exists {
				if err := c.Remove(name); err != nil {
					t.Fatalf("delete the existing target: %v", err)
				}
			}
			if err := tc.rename(c, name+".filepart", name); err != nil {
				t.Fatalf("rename: %v", err)
			}
			if got, _ := e.s3.Get(t, key); !bytes.Equal(got, data) {
				t.Fatalf("%s holds %d bytes; want the %d uploaded", key, len(got), len(data))
			}
			if _, ok := e.s3.Get(t, key+".filepart"); ok {
				t.Errorf("the temporary object is still there")
			}
			head, err := e.obj.Head(context.Background(), store.HeadRequest{Bucket: e.s3.Bucket, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			h := &handlers{fs: e.fs, ctx: context.Background(), tenant: &auth.Tenant{Bucket: e.s3.Bucket}, log: testLog()}
			home := &vfs.Mount{Bucket: e.s3.Bucket}
			if got := h.objectMtime(home, key, head, time.Time{}); !got.Equal(mtime) { // metadata, or a tag after a pending upload
				t.Errorf("kept time %v (metadata %s = %q); want %v (the time set on the temporary file)", got, objfmt.MetaMtime, head.Metadata[objfmt.MetaMtime], mtime)
			}
			if fi, err := c.Stat(name); err != nil || !fi.ModTime().Equal(mtime) || fi.Size() != int64(tc.size) {
				t.Errorf("stat after rename = %v, %v; want size %d, mtime %v", fi, err, tc.size, mtime)
			}
		})
	}
}

// dropBoxPerms are the permissions of the write-only drop box in
// config.example.toml.
func dropBoxPerms(t *testing.T) []string {
	t.Helper()
	example, err := os.ReadFile("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)A write-only drop box.*?\n# permissions = \[([^\]]*)\]`).FindSubmatch(example)
	if m == nil {
		t.Fatal("config.example.toml has no drop box example with permissions")
	}
	var names []string
	for _, n := range strings.Split(string(m[1]), ",") {
		names = append(names, strings.Trim(strings.TrimSpace(n), `"`))
	}
	return names
}

// TestWinSCP_DropBox: a drop box user (config.example.toml's permissions,
// and write alone) uploads through WinSCP's temporary name: its final plain
// rename completes the upload, which takes write, not rename, both for a
// pending upload and for a small file stored under the temporary name. An
// existing target stays unless the user may overwrite, and the user still
// cannot rename a temporary file it did not upload.
func TestWinSCP_DropBox(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	example, err := auth.ParsePerms(dropBoxPerms(t))
	if err != nil {
		t.Fatal(err)
	}
	if example.Has(auth.PermRename) || example.Has(auth.PermList) || example.Has(auth.PermRead) {
		t.Fatalf("the drop box of config.example.toml has permissions %v; the test wants a write-only one", example)
	}
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		perms     auth.Perms
		size      int
		exists    bool // the target is already stored
		wantStore bool
	}{
		{"example-small", example, 200 << 10, false, true}, // stored as name.filepart, renamed with a copy
		{"example-pending", example, 7 << 20, false, true}, // pending, completed by the rename
		{"write-only-pending", auth.PermWrite, 7 << 20, false, true},
		{"write-only-existing-target", auth.PermWrite, 7 << 20, true, false},
		{"overwrite-existing-target", auth.PermWrite | auth.PermOverwrite, 200 << 10, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.session(t, "drop/", tc.perms)
			name := "/" + tc.name + ".dat"
			key := "drop" + name
			old := []byte("stored before")
			if tc.exists {
				e.s3.Put(t, key, old)
			}
			if _, err := c.Stat(name); !errors.Is(err, os.ErrNotExist) { // so WinSCP deletes nothing
				t.Fatalf("stat of the target by a drop box user = %v; want no such file", err)
			}
			data := randBytes(tc.size)
			if err := writeFile(t, c, name+".filepart", data); err != nil {
				t.Fatalf("upload of the temporary file: %v", err)
			}
			if err := c.Chtimes(name+".filepart", mtime, mtime); err != nil {
				t.Fatalf("setstat mtime: %v", err)
			}
			if err := c.Chmod(name+".filepart", 0o644); err != nil {
				t.Fatalf("setstat permissions: %v", err)
			}
			err := c.Rename(name+".filepart", name)
			want := data
			if !tc.wantStore {
				want = old
				if !errors.Is(err, os.ErrPermission) {
					t.Errorf("rename onto a file the user may not overwrite = %v; want permission denied", err)
				}
			} else if err != nil {
				t.Fatalf("rename completing the upload: %v", err)
			}
			if got, _ := e.s3.Get(t, key); !bytes.Equal(got, want) {
				t.Fatalf("%s holds %d bytes; want %d", key, len(got), len(want))
			}
			if !tc.wantStore {
				return
			}
			if _, ok := e.s3.Get(t, key+".filepart"); ok {
				t.Errorf("the temporary object is still there")
			}
			if fi, err := c.Stat(name); err != nil || fi.Size() != int64(tc.size) {
				t.Errorf("stat of its own upload after the rename = %v, %v; want size %d", fi, err, tc.size)
			}
		})
	}
	t.Run("another-users-temporary-file", func(t *testing.T) {
		e.s3.Put(t, "drop/theirs.dat.filepart", []byte("not mine"))
		c := e.session(t, "drop/", example)
		if err := c.Rename("/theirs.dat.filepart", "/theirs.dat"); !errors.Is(err, os.ErrPermission) {
			t.Errorf("rename of a temporary file this session did not upload = %v; want permission denied", err)
		}
		if _, ok := e.s3.Get(t, "drop/theirs.dat"); ok {
			t.Errorf("the drop box user moved a temporary file it did not upload")
		}
	})
}
