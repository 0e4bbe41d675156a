package s3fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/store"
)

// listedTime is the time the listing of dir shows for name.
func listedTime(t *testing.T, c *sftp.Client, dir, name string) time.Time {
	t.Helper()
	entries, err := c.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	for _, fi := range entries {
		if fi.Name() == name {
			return fi.ModTime()
		}
	}
	t.Fatalf("list %s does not show %s", dir, name)
	return time.Time{}
}

// near reports whether got is within a few seconds of want.
func near(got, want time.Time) bool { return got.Sub(want).Abs() < 5*time.Second }

func TestDirTime_MkdirAndSetstatAreKept(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

	t.Run("mkdir", func(t *testing.T) {
		made := time.Now()
		if err := c.Mkdir("/d"); err != nil {
			t.Fatal(err)
		}
		if fi, err := c.Stat("/d"); err != nil || !fi.IsDir() || !near(fi.ModTime(), made) {
			t.Errorf("stat /d after mkdir = %v (%v); want a directory of about %v", fi.ModTime(), err, made)
		}
		if got := listedTime(t, c, "/", "d"); !near(got, made) {
			t.Errorf("listing shows /d with time %v; want about %v", got, made)
		}
	})

	t.Run("setstat", func(t *testing.T) {
		if err := c.Chtimes("/d", old, old); err != nil {
			t.Fatalf("chtimes /d: %v", err)
		}
		if fi, err := c.Stat("/d"); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("stat /d after chtimes = %v (%v); want %v", fi.ModTime(), err, old)
		}
		if got := listedTime(t, c, "/", "d"); !got.Equal(old) {
			t.Errorf("listing shows /d with time %v; want %v", got, old)
		}
		other := envOn(t, e.s3, testConfig(e.s3, ChecksumsCompat)) // another gateway, which has seen nothing
		oc := other.session(t, "p/", auth.AllPerms)
		if fi, err := oc.Stat("/d"); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("another gateway's stat of /d = %v (%v); want %v", fi.ModTime(), err, old)
		}
		if got := listedTime(t, oc, "/", "d"); !got.Equal(old) {
			t.Errorf("another gateway lists /d, once stat, with time %v; want %v", got, old)
		}
	})

	t.Run("rename-keeps-it", func(t *testing.T) {
		if err := c.Mkdir("/r"); err != nil {
			t.Fatal(err)
		}
		if err := c.Chtimes("/r", old, old); err != nil {
			t.Fatal(err)
		}
		if err := c.Rename("/r", "/r2"); err != nil {
			t.Fatal(err)
		}
		other := envOn(t, e.s3, testConfig(e.s3, ChecksumsCompat)).session(t, "p/", auth.AllPerms)
		if fi, err := other.Stat("/r2"); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("stat of a renamed directory = %v (%v); want its time %v", fi.ModTime(), err, old)
		}
	})

	t.Run("common-prefix-only", func(t *testing.T) { // a directory made by another tool, with no marker
		e.s3.Put(t, "p/q/file", []byte("x"))
		if fi, err := c.Stat("/q"); err != nil || !fi.IsDir() || !near(fi.ModTime(), time.Now()) {
			t.Errorf("stat /q = %v (%v); want a directory with the time it is looked at", fi.ModTime(), err)
		}
		if err := c.Chtimes("/q", old, old); err != nil {
			t.Fatalf("chtimes /q: %v", err)
		}
		if _, ok := e.s3.Get(t, "p/q/"); !ok {
			t.Errorf("chtimes of a directory without a marker made none")
		}
		if fi, err := c.Stat("/q"); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("stat /q after chtimes = %v (%v); want %v", fi.ModTime(), err, old)
		}
		if got, _ := e.s3.Get(t, "p/q/file"); !bytes.Equal(got, []byte("x")) {
			t.Errorf("a file in /q changed: %q", got)
		}
	})

	t.Run("rmdir-forgets", func(t *testing.T) {
		if err := c.RemoveDirectory("/d"); err != nil {
			t.Fatal(err)
		}
		if err := c.Mkdir("/d"); err != nil {
			t.Fatal(err)
		}
		if got := listedTime(t, c, "/", "d"); got.Equal(old) {
			t.Errorf("a directory made again lists with the removed one's time %v", got)
		}
	})

	t.Run("no-mkdir-permission", func(t *testing.T) { // accepted, not kept: WinSCP aborts on a failed setstat
		ro := e.session(t, "p/", auth.PermRead|auth.PermList|auth.PermWrite)
		if err := ro.Chtimes("/d", old, old); err != nil {
			t.Errorf("chtimes without mkdir = %v; want success", err)
		}
		if fi, _ := ro.Stat("/d"); fi.ModTime().Equal(old) {
			t.Errorf("chtimes without mkdir kept the time")
		}
	})
}

func TestSetstat_Size(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	data := randBytes(1000)
	put := func(t *testing.T, name string) {
		t.Helper()
		if err := writeFile(t, c, name, data); err != nil {
			t.Fatal(err)
		}
	}
	unchanged := func(t *testing.T, key string) {
		t.Helper()
		if got, _ := e.s3.Get(t, key); !bytes.Equal(got, data) {
			t.Errorf("%s changed: %d bytes; want the %d stored", key, len(got), len(data))
		}
	}

	t.Run("same-size", func(t *testing.T) { // scp and lftp send the size they wrote
		put(t, "/same.bin")
		if err := c.Truncate("/same.bin", int64(len(data))); err != nil {
			t.Errorf("truncate to its own size = %v; want success", err)
		}
		unchanged(t, "p/same.bin")
	})

	t.Run("other-size-refused", func(t *testing.T) {
		put(t, "/cut.bin")
		err := c.Truncate("/cut.bin", 512)
		if statusCode(err) != uint32(sftp.ErrSSHFxOpUnsupported) {
			t.Errorf("truncate to 512 = %v; want op-unsupported", err)
		}
		unchanged(t, "p/cut.bin")
		if fi, err := c.Stat("/cut.bin"); err != nil || fi.Size() != int64(len(data)) {
			t.Errorf("stat after refused truncate: size %d (%v); want %d", fi.Size(), err, len(data))
		}
	})

	t.Run("zero-empties", func(t *testing.T) {
		put(t, "/empty.bin")
		old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		if err := c.Truncate("/empty.bin", 0); err != nil {
			t.Fatalf("truncate to 0 = %v; want success", err)
		}
		if got, ok := e.s3.Get(t, "p/empty.bin"); !ok || len(got) != 0 {
			t.Errorf("after truncate to 0 the object has %d bytes (exists %v); want an empty object", len(got), ok)
		}
		if fi, err := c.Stat("/empty.bin"); err != nil || fi.Size() != 0 {
			t.Errorf("stat after truncate: size %d (%v); want 0", fi.Size(), err)
		}
		if err := c.Chtimes("/empty.bin", old, old); err != nil {
			t.Fatal(err)
		}
		fi, err := c.Stat("/empty.bin")
		if err != nil || !fi.ModTime().Equal(old) {
			t.Fatalf("stat mtime = %v (%v); want %v", fi.ModTime(), err, old)
		}
		if st := fi.Sys().(*sftp.FileStat); st.Atime != st.Mtime { // atime is shown as mtime
			t.Errorf("atime %d; want the mtime %d", st.Atime, st.Mtime)
		}
	})

	t.Run("zero-without-overwrite", func(t *testing.T) {
		put(t, "/keep.bin")
		w := e.session(t, "p/", auth.PermRead|auth.PermList|auth.PermWrite)
		if err := w.Truncate("/keep.bin", 0); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("truncate to 0 without overwrite = %v; want permission denied", err)
		}
		unchanged(t, "p/keep.bin")
	})

	t.Run("directory", func(t *testing.T) {
		if err := c.Mkdir("/dir"); err != nil {
			t.Fatal(err)
		}
		if err := c.Truncate("/dir", 0); err == nil {
			t.Errorf("truncate of a directory succeeded")
		}
	})

	t.Run("while-uploading", func(t *testing.T) { // lftp: SETSTAT size on the path before CLOSE
		f, err := c.OpenFile("/up.bin", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := c.Truncate("/up.bin", int64(len(data))); err != nil {
			t.Errorf("size while uploading = %v; want success", err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		unchanged(t, "p/up.bin")
	})
}

// statusCode is the SFTP status of a client error, or 0.
func statusCode(err error) uint32 {
	var se *sftp.StatusError
	if errors.As(err, &se) {
		return uint32(se.FxCode())
	}
	return 0
}

// TestDirTime_ListingCostsNoHead: directories in a listing cost no request
// of their own, whether this gateway has seen their markers or not.
func TestDirTime_ListingCostsNoHead(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	for _, d := range []string{"a", "b", "c"} {
		e.s3.Put(t, "p/"+d+"/", nil)          // markers this gateway never saw
		e.s3.Put(t, "p/"+d+"/f", []byte("x")) // and a file in each
	}
	counter := &headCounter{Objects: e.obj}
	e.through(counter)
	c := e.session(t, "p/", auth.AllPerms)
	if err := c.Mkdir("/made"); err != nil {
		t.Fatal(err)
	}
	before := counter.heads.Load()
	entries, err := c.ReadDir("/")
	if err != nil || len(entries) != 4 {
		t.Fatalf("list / = %d entries (%v); want 4 directories", len(entries), err)
	}
	if n := counter.heads.Load() - before; n != 0 {
		t.Errorf("listing 4 directories cost %d HEAD requests; want none", n)
	}
}

// refuseMarkers fails every PutObject of a directory marker, as a store
// that has stopped accepting writes would.
type refuseMarkers struct{ store.Objects }

func (r refuseMarkers) Put(ctx context.Context, req store.PutRequest) (store.Written, error) {
	if strings.HasSuffix(req.Key, "/") {
		return store.Written{}, errors.New("injected: marker refused")
	}
	return r.Objects.Put(ctx, req)
}

// TestDirTime_StorageFailureIsNoRefusal: a directory time the store will
// not keep leaves the setstat successful (WinSCP aborts an upload on a
// failed setstat), as for files.
func TestDirTime_StorageFailureIsNoRefusal(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	if err := c.Mkdir("/d"); err != nil {
		t.Fatal(err)
	}
	e.through(refuseMarkers{e.obj})
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := c.Chtimes("/d", old, old); err != nil {
		t.Errorf("chtimes of a directory whose marker the store refuses = %v; want success", err)
	}
	if fi, err := c.Stat("/d"); err != nil || fi.ModTime().Equal(old) {
		t.Errorf("stat /d = %v (%v); want the directory with its mkdir time", fi.ModTime(), err)
	}
}

// TestSetstat_TruncateEnvelope: size 0 on an envelope-encrypted file stores
// an encrypted empty file, which reads back as empty.
func TestSetstat_TruncateEnvelope(t *testing.T) {
	e, keys := newEnvelopeEnv(t)
	c := e.session(t, "p/", auth.AllPerms)
	if err := writeFile(t, c, "/sealed.bin", randBytes(5000)); err != nil {
		t.Fatal(err)
	}
	if err := c.Truncate("/sealed.bin", 0); err != nil {
		t.Fatalf("truncate to 0 = %v; want success", err)
	}
	stored, meta := rawObject(t, e, "p/sealed.bin")
	if plain, err := decryptRaw(t, keys, e.s3.Bucket, "p/sealed.bin", stored, meta); err != nil || len(plain) != 0 {
		t.Errorf("stored object decrypts to %d bytes (%v); want an encrypted empty file", len(plain), err)
	}
	f, err := c.Open("/sealed.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := io.ReadAll(f); err != nil || len(got) != 0 {
		t.Errorf("download after truncate = %d bytes (%v); want an empty file", len(got), err)
	}
}
