package s3fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
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
			head, err := e.api.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.s3.Bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			h := &handlers{fs: e.fs, ctx: context.Background(), tenant: &auth.Tenant{Bucket: e.s3.Bucket}, log: testLog()}
			if got := h.objectMtime(key, head, nil); !got.Equal(mtime) { // metadata, or a tag after a pending upload
				t.Errorf("kept time %v (metadata %s = %q); want %v (the time set on the temporary file)", got, mtimeMeta, head.Metadata[mtimeMeta], mtime)
			}
			if fi, err := c.Stat(name); err != nil || !fi.ModTime().Equal(mtime) || fi.Size() != int64(tc.size) {
				t.Errorf("stat after rename = %v, %v; want size %d, mtime %v", fi, err, tc.size, mtime)
			}
		})
	}
}
