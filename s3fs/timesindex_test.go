package s3fs

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// readCounter counts the reads a listing makes besides ListObjectsV2.
type readCounter struct {
	store.Objects
	heads, gets, lists atomic.Int32
}

func (c *readCounter) Head(ctx context.Context, r store.HeadRequest) (store.Object, error) {
	c.heads.Add(1)
	return c.Objects.Head(ctx, r)
}

func (c *readCounter) Get(ctx context.Context, r store.GetRequest) (store.Reading, error) {
	c.gets.Add(1)
	return c.Objects.Get(ctx, r)
}

func (c *readCounter) List(ctx context.Context, r store.ListRequest) (store.ListPage, error) {
	c.lists.Add(1)
	return c.Objects.List(ctx, r)
}

// listedTimes lists dir and returns each entry's time by name.
func listedTimes(t *testing.T, c interface {
	ReadDir(string) ([]os.FileInfo, error)
}, dir string) map[string]time.Time {
	t.Helper()
	entries, err := c.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	times := map[string]time.Time{}
	for _, fi := range entries {
		times[fi.Name()] = fi.ModTime()
	}
	return times
}

// TestTimesIndex_KeptTimesShowAfterRestartAndOnAnotherGateway: times kept
// through one gateway (a setstat after the upload, as put -p and WinSCP
// send; one set on the open file, as lftp and scp send) list on a gateway
// started afterwards on the same bucket, which has seen none of it, without
// a HEAD per file: one GET of the folder's index.
func TestTimesIndex_KeptTimesShowAfterRestartAndOnAnotherGateway(t *testing.T) {
	a := newEnv(t, ChecksumsCompat)
	ca := a.session(t, "p/", auth.AllPerms)
	if err := ca.Mkdir("/in"); err != nil {
		t.Fatal(err)
	}
	kept := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for i := range 3 {
		if err := writeFile(t, ca, fmt.Sprintf("/in/f%d", i), randBytes(100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ca.Chtimes("/in/f1", kept, kept); err != nil {
		t.Fatal(err)
	}
	f, err := ca.OpenFile("/in/f2", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(randBytes(100))
	if err := ca.Chtimes("/in/f2", kept.Add(time.Hour), kept.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	b := envOn(t, a.s3, a.cfg) // a restart, or another replica: a new FS, nothing in memory
	counter := &readCounter{Objects: b.obj}
	b.through(counter)
	got := listedTimes(t, b.session(t, "p/", auth.AllPerms), "/in")
	if !got["f1"].Equal(kept) || !got["f2"].Equal(kept.Add(time.Hour)) {
		t.Errorf("the other gateway lists f1 at %v, f2 at %v; want %v and %v", got["f1"], got["f2"], kept, kept.Add(time.Hour))
	}
	if got["f0"].Before(time.Now().Add(-time.Hour)) {
		t.Errorf("f0, with no kept time, lists at %v; want its LastModified (now)", got["f0"])
	}
	if _, ok := got[objfmt.TimesIndex]; ok || len(got) != 3 {
		t.Errorf("listing shows %v; want f0, f1 and f2 only", got)
	}
	if h, g := counter.heads.Load(), counter.gets.Load(); h != 0 || g != 1 {
		t.Errorf("the listing sent %d HEADs and %d GETs; want none and one (the index)", h, g)
	}
}

// TestTimesIndex_FolderWithoutTimesCostsOnlyTheListing: in a folder
// filled straight in S3 (as a hospital's systems fill outbound folders),
// each file lists with its LastModified, and the listing sends nothing but
// ListObjectsV2.
func TestTimesIndex_FolderWithoutTimesCostsOnlyTheListing(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	ctx := context.Background()
	for i := range 5 {
		if _, err := e.obj.Put(ctx, store.PutRequest{Bucket: e.s3.Bucket, Key: fmt.Sprintf("p/out/f%d", i), Body: randBytes(10)}); err != nil {
			t.Fatal(err)
		}
	}
	counter := &readCounter{Objects: e.obj}
	e.through(counter)
	got := listedTimes(t, e.session(t, "p/", auth.AllPerms), "/out")
	if len(got) != 5 {
		t.Fatalf("listing shows %v; want 5 files", got)
	}
	for name, mtime := range got {
		if time.Since(mtime) > time.Minute {
			t.Errorf("%s lists at %v; want its LastModified (now)", name, mtime)
		}
	}
	if h, g, l := counter.heads.Load(), counter.gets.Load(), counter.lists.Load(); h != 0 || g != 0 || l != 1 {
		t.Errorf("the listing sent %d HEADs, %d GETs and %d LISTs; want 0, 0 and 1", h, g, l)
	}
}

// TestTimesIndex_OverwrittenStraightInS3ShowsItsOwnTime: a file with a
// kept time, then overwritten straight in S3, lists with the new object's
// LastModified, on this gateway and on another; the listing drops the
// stale entry from the index.
func TestTimesIndex_OverwrittenStraightInS3ShowsItsOwnTime(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	kept := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := writeFile(t, c, "/f", randBytes(100)); err != nil {
		t.Fatal(err)
	}
	if err := c.Chtimes("/f", kept, kept); err != nil {
		t.Fatal(err)
	}
	if got := listedTimes(t, c, "/")["f"]; !got.Equal(kept) {
		t.Fatalf("f lists at %v; want the kept %v", got, kept)
	}
	ctx := context.Background()
	time.Sleep(time.Second) // LastModified has seconds: the overwrite is later than the kept version
	if _, err := e.obj.Put(ctx, store.PutRequest{Bucket: e.s3.Bucket, Key: "p/f", Body: randBytes(100)}); err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]interface {
		ReadDir(string) ([]os.FileInfo, error)
	}{"this": c, "another": envOn(t, e.s3, e.cfg).session(t, "p/", auth.AllPerms)} {
		if got := listedTimes(t, cl, "/")["f"]; got.Equal(kept) || time.Since(got) > time.Minute {
			t.Errorf("on %s gateway, f overwritten in S3 lists at %v; want its LastModified (now), not the kept %v", name, got, kept)
		}
	}
	r, err := e.obj.Get(ctx, store.GetRequest{Bucket: e.s3.Bucket, Key: "p/" + objfmt.TimesIndex})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var body [256]byte
	n, _ := r.Body.Read(body[:])
	if got := string(body[:n]); got != `{"files":{}}` {
		t.Errorf("index after the listing = %s; want the stale entry dropped", got)
	}
}

// TestTimesIndex_ConcurrentGatewaysLoseNoEntry: two gateways keeping
// times on different files of one folder at the same time both win: the
// index's conditional writes retry on a fresh read.
func TestTimesIndex_ConcurrentGatewaysLoseNoEntry(t *testing.T) {
	a := newEnv(t, ChecksumsCompat)
	b := envOn(t, a.s3, a.cfg)
	ca, cb := a.session(t, "p/", auth.AllPerms), b.session(t, "p/", auth.AllPerms)
	const n = 8
	for i := range 2 * n {
		if err := writeFile(t, ca, fmt.Sprintf("/f%02d", i), randBytes(10)); err != nil {
			t.Fatal(err)
		}
	}
	kept := func(i int) time.Time { return time.Date(2001, 1, 1, 0, 0, i, 0, time.UTC) }
	var wg sync.WaitGroup
	for i := range 2 * n {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		wg.Go(func() {
			if err := c.Chtimes(fmt.Sprintf("/f%02d", i), kept(i), kept(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := listedTimes(t, envOn(t, a.s3, a.cfg).session(t, "p/", auth.AllPerms), "/")
	for i := range 2 * n {
		if name := fmt.Sprintf("f%02d", i); !got[name].Equal(kept(i)) {
			t.Errorf("%s lists at %v; want %v", name, got[name], kept(i))
		}
	}
}

// TestTimesIndex_NameIsReserved: no client can create, open or stat the
// index under its name, in any folder.
func TestTimesIndex_NameIsReserved(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	if err := writeFile(t, c, "/f", randBytes(10)); err != nil {
		t.Fatal(err)
	}
	if err := c.Chtimes("/f", time.Unix(1e9, 0), time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/" + objfmt.TimesIndex, "/sub/" + objfmt.TimesIndex} {
		if err := writeFile(t, c, p, randBytes(10)); err == nil {
			t.Errorf("upload to %s succeeded; want it refused", p)
		}
		if _, err := c.Stat(p); err == nil {
			t.Errorf("stat %s succeeded; want it refused", p)
		}
	}
	if _, err := c.Open("/" + objfmt.TimesIndex); err == nil {
		t.Errorf("open of the index succeeded; want it refused")
	}
}

// TestTimesIndex_FolderRenameAndRemove: a renamed folder keeps its files'
// times, and a folder whose only other object is its index is empty to
// rmdir, which leaves nothing behind.
func TestTimesIndex_FolderRenameAndRemove(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	kept := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := c.Mkdir("/d"); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(t, c, "/d/f", randBytes(10)); err != nil {
		t.Fatal(err)
	}
	if err := c.Chtimes("/d/f", kept, kept); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("/d", "/e"); err != nil {
		t.Fatal(err)
	}
	if got := listedTimes(t, c, "/e")["f"]; !got.Equal(kept) {
		t.Errorf("after the folder's rename, f lists at %v; want %v", got, kept)
	}
	if err := c.Remove("/e/f"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDirectory("/e"); err != nil {
		t.Errorf("rmdir of a folder left with its index: %v; want it removed", err)
	}
	if keys := e.s3.Keys(t, "p/"); len(keys) != 0 {
		t.Errorf("keys left = %v; want none", keys)
	}
}

// TestListing_ManyPagesInOrder: a folder of several ListObjectsV2 pages,
// read while the next page is asked for ahead, lists every file once, in
// order, with the kept time of one on the last page.
func TestListing_ManyPagesInOrder(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	ctx := context.Background()
	const n = 2500
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := e.obj.Put(ctx, store.PutRequest{Bucket: e.s3.Bucket, Key: fmt.Sprintf("p/big/f%05d", i), Body: nil}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c := e.session(t, "p/", auth.AllPerms)
	kept := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := c.Chtimes(fmt.Sprintf("/big/f%05d", n-1), kept, kept); err != nil {
		t.Fatal(err)
	}
	entries, err := c.ReadDir("/big")
	if err != nil || len(entries) != n {
		t.Fatalf("listing: %d entries, %v; want %d", len(entries), err, n)
	}
	for i, fi := range entries {
		if want := fmt.Sprintf("f%05d", i); fi.Name() != want {
			t.Fatalf("entry %d is %s; want %s", i, fi.Name(), want)
		}
	}
	if got := entries[n-1].ModTime(); !got.Equal(kept) {
		t.Errorf("the last file lists at %v; want its kept %v", got, kept)
	}
}

// TestTimesIndex_ReadOnlyListingWritesNothing: a user who may not write
// there lists a folder whose index is stale with the files' own times, and
// the listing writes nothing (that user's role may not); the next listing
// by a writer repairs it.
func TestTimesIndex_ReadOnlyListingWritesNothing(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	w := e.session(t, "p/", auth.AllPerms)
	kept := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := writeFile(t, w, "/f", randBytes(10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Chtimes("/f", kept, kept); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := e.obj.Put(context.Background(), store.PutRequest{Bucket: e.s3.Bucket, Key: "p/f", Body: randBytes(10)}); err != nil {
		t.Fatal(err)
	}
	counter := &requestCounter{Objects: e.obj}
	e.through(counter)
	if got := listedTimes(t, e.session(t, "p/", auth.PermList|auth.PermRead), "/")["f"]; got.Equal(kept) {
		t.Errorf("f lists at the kept %v after its overwrite in S3; want its LastModified", got)
	}
	if n := counter.take()["PUT"]; n != 0 {
		t.Errorf("a read-only user's listing sent %d PUTs; want none", n)
	}
	listedTimes(t, w, "/")
	if n := counter.take()["PUT"]; n != 1 {
		t.Errorf("a writer's listing sent %d PUTs; want one, the index repaired", n)
	}
}
