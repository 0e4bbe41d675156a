package s3fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/auth"
)

func TestMtime_KeptAsMetadata(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	meta := func(key string) map[string]string {
		t.Helper()
		out, err := e.api.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.s3.Bucket, Key: &key})
		if err != nil {
			t.Fatalf("head %s: %v", key, err)
		}
		return out.Metadata
	}
	wantMtime := func(path string, want time.Time) {
		t.Helper()
		fi, err := c.Stat(path)
		if err != nil || !fi.ModTime().Equal(want) {
			t.Errorf("stat %s mtime = %v (%v); want %v", path, fi.ModTime(), err, want)
		}
		entries, err := c.ReadDir("/")
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range entries {
			if "/"+fi.Name() == path && !fi.ModTime().Equal(want) {
				t.Errorf("listing shows %s with mtime %v; want %v", path, fi.ModTime(), want)
			}
		}
	}

	t.Run("setstat-after-close", func(t *testing.T) {
		data := randBytes(6 << 20)
		if err := writeFile(t, c, "/a.bin", data); err != nil {
			t.Fatal(err)
		}
		if err := c.Chtimes("/a.bin", old, old); err != nil {
			t.Fatalf("chtimes: %v", err)
		}
		wantMtime("/a.bin", old)
		if m := meta("p/a.bin"); m["s3sftpd-upload"] != "1" {
			t.Errorf("metadata after setstat = %v; other keys must stay", m)
		}
		if got, _ := e.s3.Get(t, "p/a.bin"); !bytes.Equal(got, data) {
			t.Errorf("content changed by setstat")
		}
		if err := c.Rename("/a.bin", "/b.bin"); err != nil {
			t.Fatal(err)
		}
		wantMtime("/b.bin", old) // a rename copies the metadata
	})

	t.Run("setstat-while-open", func(t *testing.T) { // lftp: SETSTAT mtime on the path, then CLOSE
		for _, size := range []int{100, 6 << 20} { // one PutObject; a multipart upload already created
			name := fmt.Sprintf("/open-%d.bin", size)
			f, err := c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(randBytes(size)); err != nil {
				t.Fatal(err)
			}
			if err := c.Chtimes(name, old, old); err != nil {
				t.Fatalf("chtimes while open: %v", err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			wantMtime(name, old)
		}
	})

	t.Run("chmod-is-accepted", func(t *testing.T) {
		if err := c.Chmod("/b.bin", 0o600); err != nil {
			t.Errorf("chmod = %v; want success (a no-op)", err)
		}
		wantMtime("/b.bin", old)
	})

	t.Run("missing-file", func(t *testing.T) {
		if err := c.Chtimes("/nope", old, old); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("chtimes of a missing file = %v; want not exist", err)
		}
	})

	t.Run("write-only-user", func(t *testing.T) { // accepted, not kept: keeping it would overwrite
		w := e.session(t, "p/", auth.PermWrite|auth.PermList)
		if err := writeFile(t, w, "/w.bin", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := w.Chtimes("/w.bin", old, old); err != nil {
			t.Errorf("chtimes by a write-only user = %v; want success", err)
		}
		if m := meta("p/w.bin"); m["s3sftpd-mtime"] != "" {
			t.Errorf("write-only user changed the object's metadata: %v", m)
		}
	})
}

// headCounter counts HeadObject calls reaching S3.
type headCounter struct {
	s3API
	heads atomic.Int64
}

func (c *headCounter) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	c.heads.Add(1)
	return c.s3API.HeadObject(ctx, in, o...)
}

// TestMtime_ListingsRemember: a directory listed again costs no HEAD per file,
// and a time changed since (setstat, overwrite) shows at once.
func TestMtime_ListingsRemember(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	counter := &headCounter{s3API: e.api}
	e.fs.s3 = forgetWrites{counter, &e.fs.listedMtimes, &e.fs.dirTimes}
	c := e.session(t, "p/", auth.AllPerms)
	for i := range 5 {
		if err := writeFile(t, c, fmt.Sprintf("/f%d", i), randBytes(100)); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := c.Chtimes("/f1", old, old); err != nil {
		t.Fatal(err)
	}
	mtimeOf := func() time.Time {
		t.Helper()
		entries, err := c.ReadDir("/")
		if err != nil || len(entries) != 5 {
			t.Fatalf("listing: %d entries, %v; want 5", len(entries), err)
		}
		for _, fi := range entries {
			if fi.Name() == "f1" {
				return fi.ModTime()
			}
		}
		t.Fatal("f1 not listed")
		return time.Time{}
	}
	if got := mtimeOf(); !got.Equal(old) {
		t.Fatalf("first listing shows f1 at %v; want %v", got, old)
	}
	before := counter.heads.Load()
	if got := mtimeOf(); !got.Equal(old) {
		t.Fatalf("second listing shows f1 at %v; want %v", got, old)
	}
	if n := counter.heads.Load() - before; n != 0 {
		t.Errorf("listing 5 files again sent %d HEADs; want 0", n)
	}
	newer := old.Add(time.Hour) // the same content, the same second: only the metadata changes
	if err := c.Chtimes("/f1", newer, newer); err != nil {
		t.Fatal(err)
	}
	if got := mtimeOf(); !got.Equal(newer) {
		t.Errorf("after setstat, the listing shows f1 at %v; want %v", got, newer)
	}
}
