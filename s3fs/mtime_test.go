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
	"github.com/aws/smithy-go"
	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/store"
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

// headCounter counts the HEADs s3fs sends.
type headCounter struct {
	store.Objects
	heads atomic.Int64
}

func (c *headCounter) Head(ctx context.Context, r store.HeadRequest) (store.Object, error) {
	c.heads.Add(1)
	return c.Objects.Head(ctx, r)
}

// TestMtime_ListingsRemember: a directory listed again costs no HEAD per file,
// and a time changed since (setstat, overwrite) shows at once.
func TestMtime_ListingsRemember(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	counter := &headCounter{Objects: e.obj}
	e.through(counter)
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

// mtimeCounter counts the server-side copies s3fs asks for. With noTags it
// answers object tag requests as a store without tags does (the embedded
// one): 501 NotImplemented.
type mtimeCounter struct {
	store.Objects
	copies atomic.Int32
	noTags atomic.Bool
}

var errNoTags = &smithy.GenericAPIError{Code: "NotImplemented", Message: "object tags are not supported"}

func (c *mtimeCounter) Copy(ctx context.Context, r store.CopyRequest) (store.Written, error) {
	c.copies.Add(1)
	return c.Objects.Copy(ctx, r)
}

func (c *mtimeCounter) Tags(ctx context.Context, bucket, key, versionID string) (map[string]string, error) {
	if c.noTags.Load() {
		return nil, errNoTags
	}
	return c.Objects.Tags(ctx, bucket, key, versionID)
}

func (c *mtimeCounter) PutTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) error {
	if c.noTags.Load() {
		return errNoTags
	}
	return c.Objects.PutTags(ctx, bucket, key, versionID, tags)
}

// TestMtime_SetstatCostIsBounded: setstat may come in a loop, and keeping
// a time must not cost a copy of the object (and, in a versioned bucket, a
// new version) each time. Five times set on a file over the copy limit cost
// no copy; on a smaller one, one copy in all. Either way the file keeps
// its content and every session sees the last time, in stat and listings.
// On a store without tags a small file is copied for each new time, and a
// large one keeps no time.
func TestMtime_SetstatCostIsBounded(t *testing.T) {
	srv := s3test.StartVersioned(t)
	cfg := testConfig(srv, ChecksumsCompat)
	client, err := dialStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	counter := &mtimeCounter{Objects: objectsOver(client, cfg)}
	fsys, err := New(counter, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	fsys.times.CopyLimit = 1 << 20
	e := &env{s3: srv, fs: fsys, api: client, obj: fsys.obj.(keptime.Indexing).Objects, cfg: cfg}
	c := e.session(t, "p/", auth.AllPerms)
	base := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

	versions := func(key string) int {
		t.Helper()
		out, err := client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: &srv.Bucket, Prefix: &key})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Versions)
	}
	seen := func(c *sftp.Client, path string) (stat, listed time.Time) {
		t.Helper()
		fi, err := c.Stat(path)
		if err != nil {
			t.Fatalf("stat %s: %v", path, err)
		}
		entries, err := c.ReadDir("/")
		if err != nil {
			t.Fatal(err)
		}
		for _, le := range entries {
			if "/"+le.Name() == path {
				listed = le.ModTime()
			}
		}
		return fi.ModTime(), listed
	}

	for _, tc := range []struct {
		name       string
		size       int
		wantCopies int32
	}{
		{"over-the-copy-limit", 1<<20 + 1, 0},
		{"multipart-over-the-copy-limit", 6 << 20, 0},
		{"under-the-copy-limit", 1000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/" + tc.name + ".bin"
			data := randBytes(tc.size)
			if err := writeFile(t, c, path, data); err != nil {
				t.Fatal(err)
			}
			before := counter.copies.Load()
			var last time.Time
			for i := range 5 {
				last = base.Add(time.Duration(i) * time.Hour)
				if err := c.Chtimes(path, last, last); err != nil {
					t.Fatalf("chtimes %d: %v", i+1, err)
				}
			}
			t.Logf("5 time-sets of a %d-byte file: %d copies", tc.size, counter.copies.Load()-before)
			if got := counter.copies.Load() - before; got != tc.wantCopies {
				t.Errorf("5 time-sets of a %d-byte file made %d copies; want %d", tc.size, got, tc.wantCopies)
			}
			if got, want := versions("p"+path), 1+int(tc.wantCopies); got > want { // versitygw keeps a self-copy in place
				t.Errorf("the versioned bucket holds %d versions; want at most %d", got, want)
			}
			if got, _ := srv.Get(t, "p"+path); !bytes.Equal(got, data) {
				t.Errorf("content changed by setstat")
			}
			other := e.session(t, "p/", auth.AllPerms)
			for name, s := range map[string]*sftp.Client{"this": c, "another": other} {
				if stat, listed := seen(s, path); !stat.Equal(last) || !listed.Equal(last) {
					t.Errorf("%s session: stat shows %v, listing %v; want %v", name, stat, listed, last)
				}
			}
		})
	}

	t.Run("store-without-tags", func(t *testing.T) {
		counter.noTags.Store(true)
		defer counter.noTags.Store(false)
		small, large := "/untagged-small.bin", "/untagged-large.bin"
		for p, size := range map[string]int{small: 1000, large: 1<<20 + 1} {
			if err := writeFile(t, c, p, randBytes(size)); err != nil {
				t.Fatal(err)
			}
		}
		before := counter.copies.Load()
		for i := range 3 {
			tm := base.Add(time.Duration(i) * time.Hour)
			for _, p := range []string{small, large} {
				if err := c.Chtimes(p, tm, tm); err != nil {
					t.Fatalf("chtimes %s: %v", p, err)
				}
			}
		}
		if got := counter.copies.Load() - before; got != 3 {
			t.Errorf("3 time-sets each of a small and a large file, no tags: %d copies; want 3 (the small one's)", got)
		}
		last := base.Add(2 * time.Hour)
		if stat, _ := seen(c, small); !stat.Equal(last) {
			t.Errorf("small file shows %v; want %v", stat, last)
		}
		if stat, _ := seen(c, large); stat.Before(base.Add(24 * time.Hour)) {
			t.Errorf("large file shows %v; want its write time (no time kept)", stat)
		}
		if err := c.Chtimes(small, last, last); err != nil {
			t.Fatal(err)
		}
		if got := counter.copies.Load() - before; got != 3 {
			t.Errorf("setting the time the small file has made a copy")
		}
	})
}

// TestMtime_AnotherReplicasTimeShows: a time set through one replica, by a
// copy or in a tag (the same version), lists at once on another, which
// reads it from the folder's times index; and its own too.
func TestMtime_AnotherReplicasTimeShows(t *testing.T) {
	srv := s3test.Start(t)
	cfg := testConfig(srv, ChecksumsCompat)
	a, b := envOn(t, srv, cfg), envOn(t, srv, cfg)
	ca, cb := a.session(t, "p/", auth.AllPerms), b.session(t, "p/", auth.AllPerms)
	if err := writeFile(t, ca, "/f.bin", randBytes(1000)); err != nil {
		t.Fatal(err)
	}
	listed := func() time.Time {
		t.Helper()
		entries, err := cb.ReadDir("/")
		if err != nil || len(entries) != 1 {
			t.Fatalf("listing: %d entries, %v; want 1", len(entries), err)
		}
		return entries[0].ModTime()
	}
	first, second := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC), time.Date(2002, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := ca.Chtimes("/f.bin", first, first); err != nil { // the copy: a new version
		t.Fatal(err)
	}
	if got := listed(); !got.Equal(first) {
		t.Fatalf("replica b lists f.bin at %v; want %v", got, first)
	}
	if err := ca.Chtimes("/f.bin", second, second); err != nil { // a tag: the same version
		t.Fatal(err)
	}
	if got := listed(); !got.Equal(second) {
		t.Errorf("replica b lists f.bin at %v; want %v, set through replica a", got, second)
	}
	third := second.Add(time.Hour)
	if err := cb.Chtimes("/f.bin", third, third); err != nil {
		t.Fatal(err)
	}
	if got := listed(); !got.Equal(third) {
		t.Errorf("replica b lists f.bin at %v after its own setstat; want %v", got, third)
	}
}
