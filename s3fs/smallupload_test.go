package s3fs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/store"
)

// requestCounter counts the S3 requests of each kind s3fs sends.
type requestCounter struct {
	store.Objects
	mu sync.Mutex
	n  map[string]int
}

func (c *requestCounter) add(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[kind]++
}

func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

func (c *requestCounter) Head(ctx context.Context, r store.HeadRequest) (store.Object, error) {
	c.add("HEAD")
	return c.Objects.Head(ctx, r)
}

func (c *requestCounter) List(ctx context.Context, r store.ListRequest) (store.ListPage, error) {
	c.add("LIST")
	return c.Objects.List(ctx, r)
}

func (c *requestCounter) Put(ctx context.Context, r store.PutRequest) (store.Written, error) {
	c.add("PUT")
	return c.Objects.Put(ctx, r)
}

func (c *requestCounter) Get(ctx context.Context, r store.GetRequest) (store.Reading, error) {
	c.add("GET")
	return c.Objects.Get(ctx, r)
}

func (c *requestCounter) PutTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) error {
	c.add("PUTTAGS")
	return c.Objects.PutTags(ctx, bucket, key, versionID, tags)
}

// TestSmallUpload_Requests: OpenSSH's put of a new small file (stat, then
// open with TRUNC, write, close) costs a HEAD and a LIST for the stat and
// one PUT: the open asks nothing again. A truncating open without a stat,
// by a user who may overwrite, asks only whether a directory has the name.
func TestSmallUpload_Requests(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	counter := &requestCounter{Objects: e.obj}
	e.through(counter)
	c := e.session(t, "p/", auth.AllPerms)
	if _, err := c.Stat("/new"); err == nil {
		t.Fatal("stat of a new name succeeded")
	}
	if err := writeFile(t, c, "/new", randBytes(4096)); err != nil {
		t.Fatal(err)
	}
	if got, want := counter.take(), map[string]int{"HEAD": 1, "LIST": 1, "PUT": 1}; !equalCounts(got, want) {
		t.Errorf("stat and upload of a new 4 KiB file sent %v; want %v", got, want)
	}
	if err := writeFile(t, c, "/new", randBytes(4096)); err != nil {
		t.Fatal(err)
	}
	if got, want := counter.take(), map[string]int{"LIST": 1, "PUT": 1}; !equalCounts(got, want) {
		t.Errorf("an overwrite without stat sent %v; want %v", got, want)
	}
}

// TestSmallUpload_BatchWithoutStats: OpenSSH's put of many files opens
// each without a stat. The first open's look at the folder answers the next
// ones' question (a directory of that name?) for a second: each further
// file costs its PUT, for a user who may overwrite (no HEAD needed) and for
// one who may not (the look shows no file there; the PUT's If-None-Match
// refuses one stored meanwhile). What the session itself changed since the
// look is asked again: an upload onto a directory it made is refused as
// one, an append to a file it stored as an append.
func TestSmallUpload_BatchWithoutStats(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	counter := &requestCounter{Objects: e.obj}
	e.through(counter)
	for _, tc := range []struct {
		home  string
		perms auth.Perms
		first map[string]int
	}{
		{"all/", auth.AllPerms, map[string]int{"LIST": 1, "PUT": 1}},
		{"nooverwrite/", auth.AllPerms &^ auth.PermOverwrite, map[string]int{"HEAD": 1, "LIST": 1, "PUT": 1}},
	} {
		c := e.session(t, tc.home, tc.perms)
		counter.take()
		for i := range 3 {
			if err := writeFile(t, c, fmt.Sprintf("/b%d", i), randBytes(4096)); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"PUT": 1}
			if i == 0 {
				want = tc.first
			}
			if got := counter.take(); !equalCounts(got, want) {
				t.Errorf("%s: upload %d of a batch sent %v; want %v", tc.home, i, got, want)
			}
		}
		// What this session changed since the look is asked again: a
		// directory it made, a file it stored.
		if err := c.Mkdir("/b4"); err != nil {
			t.Fatal(err)
		}
		if err := writeFile(t, c, "/b4", []byte("x")); err == nil || !strings.Contains(err.Error(), "a directory has that name") {
			t.Errorf("%s: upload onto a directory made after the look: %v", tc.home, err)
		}
		for _, name := range []string{"/b5", "/b6"} { // b5's look shows b6 free
			if err := writeFile(t, c, name, []byte("first")); err != nil {
				t.Fatal(err)
			}
		}
		if f, err := c.OpenFile("/b6", os.O_WRONLY|os.O_APPEND|os.O_CREATE); err == nil || !strings.Contains(err.Error(), "appending to a file is not supported") {
			t.Errorf("%s: append to a file stored after the look: %v", tc.home, err)
			if err == nil {
				f.Close()
			}
		}
		// Another writer stores the batch's next name within the second:
		// a stat shows it, and a user who may not overwrite cannot replace it.
		other := e.session(t, tc.home, auth.AllPerms)
		if err := writeFile(t, other, "/b3", []byte("theirs")); err != nil {
			t.Fatal(err)
		}
		if fi, err := c.Stat("/b3"); err != nil || fi.Size() != 6 {
			t.Errorf("%s: stat of a file another writer just stored: %v, %v", tc.home, fi, err)
		}
		err := writeFile(t, c, "/b3", []byte("mine"))
		if got, _ := e.s3.Get(t, tc.home+"b3"); tc.perms.Has(auth.PermOverwrite) != (string(got) == "mine") || (err == nil) != tc.perms.Has(auth.PermOverwrite) {
			t.Errorf("%s: upload onto another writer's new file: %v, it holds %q", tc.home, err, got)
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSmallUpload_RefusalsKeepTheirMessages: with fewer requests, what a
// user may not do is still refused with the same message (as the audit
// trail records what the partner is sent), and the stored file stays as it
// was: a file without overwrite (after a stat, and when another writer
// stores it between the stat and the upload), a directory of that name
// (with a marker, or only keys below it), and a write-only user's file.
func TestSmallUpload_RefusalsKeepTheirMessages(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	all := e.session(t, "p/", auth.AllPerms)
	original := []byte("original")
	for _, name := range []string{"/f", "/w", "/implicit/x"} {
		if err := writeFile(t, all, name, original); err != nil {
			t.Fatal(err)
		}
	}
	if err := all.Mkdir("/d"); err != nil {
		t.Fatal(err)
	}
	const exists = "upload refused: file exists and overwrite is not permitted for this user"
	const isDir = "upload refused: a directory has that name"
	for _, tc := range []struct {
		name   string
		perms  auth.Perms
		path   string
		before func()
		want   string
	}{
		{name: "no-overwrite", perms: auth.AllPerms &^ auth.PermOverwrite, path: "/f", want: exists},
		{name: "no-overwrite-stored-after-stat", perms: auth.AllPerms &^ auth.PermOverwrite, path: "/g", want: exists,
			before: func() {
				if err := writeFile(t, all, "/g", original); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "directory-marker", perms: auth.AllPerms, path: "/d", want: isDir},
		{name: "directory-implicit", perms: auth.AllPerms, path: "/implicit", want: isDir},
		{name: "write-only", perms: auth.PermWrite, path: "/w", want: "upload refused: the file cannot be overwritten by this user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, as := newTrail(t)
			c := e.auditedSession(t, "p/", tc.perms, as)
			c.Stat(tc.path) // as OpenSSH's put does first
			if tc.before != nil {
				tc.before()
			}
			if err := writeFile(t, c, tc.path, []byte("replacement")); err == nil {
				t.Errorf("upload to %s succeeded; want %q", tc.path, tc.want)
			}
			var refusals []string
			for _, r := range tr.records(t) {
				if r.Error != "" {
					refusals = append(refusals, r.Error)
				}
			}
			if !slices.Contains(refusals, tc.want) {
				t.Errorf("upload to %s refused with %q; want %q", tc.path, refusals, tc.want)
			}
			if got, ok := e.s3.Get(t, "p"+tc.path); ok && !bytes.Equal(got, original) {
				t.Errorf("%s holds %q after the refusal; want %q", tc.path, got, original)
			}
		})
	}
}
