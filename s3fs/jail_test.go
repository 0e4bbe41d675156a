package s3fs

import (
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/vfs/vfstest"
)

const testPrefix = "partners/acme/"

// TestJail_ThroughHandlers sends every hostile path through a real SFTP client
// to real S3 as upload, mkdir, rename and remove, then checks that every key
// in the bucket is inside the tenant's prefix and the neighbour is untouched.
func TestJail_ThroughHandlers(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.s3.Put(t, "partners/acme2/secret.txt", []byte("neighbour"))
	e.s3.Put(t, "top-level.txt", []byte("outside"))
	c := e.session(t, testPrefix, 0xff)
	paths := vfstest.HostilePaths()
	for i, p := range paths {
		writeFile(t, c, p, []byte("x"))
		c.Mkdir(p)
		c.Rename(p, paths[(i+1)%len(paths)])
		c.PosixRename("/in/ok", p)
		c.Remove(p)
		c.Stat(p)
		c.Open(p)
	}
	for _, p := range paths { // leave the files in place this time
		writeFile(t, c, p, []byte("x"))
	}
	inside := 0
	for _, key := range e.s3.Keys(t, "") {
		switch {
		case key == "partners/acme2/secret.txt" || key == "top-level.txt":
		case strings.HasPrefix(key, testPrefix):
			inside++
		default:
			t.Errorf("key %q was written outside the jail", key)
		}
	}
	if inside == 0 {
		t.Errorf("no key written inside the jail; the test did not exercise uploads")
	}
	if got, _ := e.s3.Get(t, "partners/acme2/secret.txt"); string(got) != "neighbour" {
		t.Errorf("neighbour's file = %q; want untouched", got)
	}
	t.Logf("%d hostile paths, %d keys inside the jail", len(paths), inside)
}

// TestJail_FoldersThroughHandlers: the same hostile paths, alone and below
// each folder of a user without a home, reach no key outside the folders'
// prefixes (the tree's resolution is fuzzed in vfs, FuzzTable).
func TestJail_FoldersThroughHandlers(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.s3.Put(t, "f/other/secret.txt", []byte("neighbour"))
	c := e.tenantSession(t, &auth.Tenant{User: "acme", Folders: []auth.Folder{
		{Path: "/in", Bucket: e.s3.Bucket, Prefix: "f/in/", Perms: auth.AllPerms},
		{Path: "/out/deep", Bucket: e.s3.Bucket, Prefix: "f/out/", Perms: auth.AllPerms},
	}}, nil, testLog())
	var paths []string
	for _, p := range vfstest.HostilePaths() {
		paths = append(paths, p, "/in/"+p, "/out/"+p, "/out/deep/"+p, "/in/../out/deep/"+p)
	}
	for i, p := range paths {
		writeFile(t, c, p, []byte("x"))
		c.Mkdir(p)
		c.Rename(p, paths[(i+1)%len(paths)])
		c.Remove(p)
		c.Stat(p)
	}
	for _, p := range paths {
		writeFile(t, c, p, []byte("x"))
	}
	inside := 0
	for _, key := range e.s3.Keys(t, "") {
		switch {
		case key == "f/other/secret.txt":
		case strings.HasPrefix(key, "f/in/") || strings.HasPrefix(key, "f/out/"):
			inside++
		default:
			t.Errorf("key %q was written outside the folders", key)
		}
	}
	if inside == 0 {
		t.Error("no key written inside the folders; the test did not exercise uploads")
	}
	if got, _ := e.s3.Get(t, "f/other/secret.txt"); string(got) != "neighbour" {
		t.Errorf("neighbour's file = %q; want untouched", got)
	}
}
