package s3fs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// partnerTenant is the partner layout without a home: /inbound
// (write and mkdir) in the bucket in, /outbound (list, read, delete) in
// the bucket out, each under the user's own prefix.
func partnerTenant(user, in, out string) *auth.Tenant {
	return &auth.Tenant{User: user, Perms: auth.PermList | auth.PermRead, Folders: []auth.Folder{
		{Path: "/inbound", Bucket: in, Prefix: "inbound/" + user + "/", Perms: auth.PermWrite | auth.PermMkdir},
		{Path: "/outbound", Bucket: out, Prefix: "outbound/" + user + "/", Perms: auth.PermList | auth.PermRead | auth.PermDelete},
	}}
}

func names(t *testing.T, c *sftp.Client, dir string) []string {
	t.Helper()
	fis, err := c.ReadDir(dir)
	if err != nil {
		t.Fatalf("ls %s: %v", dir, err)
	}
	var out []string
	for _, fi := range fis {
		if fi.IsDir() {
			out = append(out, fi.Name()+"/")
		} else {
			out = append(out, fi.Name())
		}
	}
	slices.Sort(out)
	return out
}

// wantRefused checks that err is a permission refusal and that the partner
// was told want (the pkg/sftp client keeps only the code; the trail records
// the message sent).
func wantRefused(t *testing.T, tr *trail, what string, err error, want string) {
	t.Helper()
	if !errors.Is(err, os.ErrPermission) {
		t.Errorf("%s = %v; want permission denied", what, err)
	}
	for _, r := range tr.records(t) {
		if r.Error == want {
			return
		}
	}
	t.Errorf("%s: no record of the message %q", what, want)
}

func TestFolders_VirtualRootListsFoldersAndRefusesWrites(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	in := e.s3.InOtherBucket(t)
	tr, a := newTrail(t)
	c := e.tenantSession(t, partnerTenant("acme", in.Bucket, e.s3.Bucket), a, testLog())

	if got, want := names(t, c, "/"), []string{"inbound/", "outbound/"}; !slices.Equal(got, want) {
		t.Errorf("ls / = %v; want %v", got, want)
	}
	if fi, err := c.Stat("/"); err != nil || !fi.IsDir() {
		t.Errorf("stat / = %v, %v; want a directory", fi, err)
	}
	if fi, err := c.Stat("/inbound"); err != nil || !fi.IsDir() {
		t.Errorf("stat /inbound = %v, %v; want a directory", fi, err)
	}
	if _, err := c.Stat("/nothing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat /nothing = %v; want no such file", err)
	}
	wantRefused(t, tr, "put /labs.csv", writeFile(t, c, "/labs.csv", []byte("x")), "upload refused: / is not a folder; use /inbound")
	wantRefused(t, tr, "mkdir /new", c.Mkdir("/new"), "mkdir refused: / is not a folder; use /inbound")
	wantRefused(t, tr, "rmdir /inbound", c.RemoveDirectory("/inbound"), "rmdir refused: /inbound is a folder of your account and cannot be changed")
	wantRefused(t, tr, "rename /outbound", c.Rename("/outbound", "/out2"), "rename refused: /outbound is a folder of your account and cannot be changed")
	if keys := append(e.s3.Keys(t, ""), in.Keys(t, "")...); len(keys) > 0 {
		t.Errorf("refused requests stored %v", keys)
	}
}

func TestFolders_InboundIsWriteOnlyOutboundReadDelete(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	in := e.s3.InOtherBucket(t)
	tr, a := newTrail(t)
	c := e.tenantSession(t, partnerTenant("acme", in.Bucket, e.s3.Bucket), a, testLog())

	data := []byte("lab results")
	if err := writeFile(t, c, "/inbound/labs.csv", data); err != nil {
		t.Fatalf("put into /inbound: %v", err)
	}
	if got, ok := in.Get(t, "inbound/acme/labs.csv"); !ok || !bytes.Equal(got, data) {
		t.Errorf("inbound bucket holds %q, %v at inbound/acme/labs.csv; want the upload", got, ok)
	}
	if keys := e.s3.Keys(t, ""); len(keys) > 0 {
		t.Errorf("the default bucket holds %v; the upload belongs in the inbound bucket only", keys)
	}
	_, err := c.ReadDir("/inbound")
	wantRefused(t, tr, "ls /inbound", err, "list refused: listing is not permitted for this user")
	_, err = c.Open("/inbound/labs.csv")
	wantRefused(t, tr, "get /inbound/labs.csv", err, "download refused: downloading is not permitted for this user")
	wantRefused(t, tr, "rm /inbound/labs.csv", c.Remove("/inbound/labs.csv"), "delete refused: deleting is not permitted for this user")

	e.s3.Put(t, "outbound/acme/report.pdf", []byte("report"))
	if got, want := names(t, c, "/outbound"), []string{"report.pdf"}; !slices.Equal(got, want) {
		t.Errorf("ls /outbound = %v; want %v", got, want)
	}
	if got := readFile(t, c, "/outbound/report.pdf"); string(got) != "report" {
		t.Errorf("get /outbound/report.pdf = %q", got)
	}
	if err := c.Remove("/outbound/report.pdf"); err != nil {
		t.Errorf("rm /outbound/report.pdf: %v", err)
	}
	if _, ok := e.s3.Get(t, "outbound/acme/report.pdf"); ok {
		t.Error("rm left the object in place")
	}
	wantRefused(t, tr, "put /outbound/x", writeFile(t, c, "/outbound/x.csv", data), "upload refused: uploading is not permitted for this user")

	var open *audit.Record
	for _, r := range tr.records(t) {
		if r.Event == audit.EventClose && r.Path == "/inbound/labs.csv" {
			open = &r
		}
	}
	if open == nil || open.Folder != "/inbound" || open.Bucket != in.Bucket || open.Key != "inbound/acme/labs.csv" {
		t.Errorf("close record of the upload = %+v; want folder /inbound, the inbound bucket and key inbound/acme/labs.csv", open)
	}
}

// WinSCP's upload into a write-only folder: stat, name.filepart, setstat,
// rename onto name, completed without a copy.
func TestFolders_WinSCPUploadInWriteOnlyFolder(t *testing.T) {
	srv := s3test.Start(t)
	e, cc := countingEnv(t, testConfig(srv, ChecksumsCompat), srv)
	in := e.s3.InOtherBucket(t)
	c := e.tenantSession(t, partnerTenant("acme", in.Bucket, e.s3.Bucket), nil, testLog())

	if _, err := c.Stat("/inbound/scan.dat"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat of the target = %v; want no such file", err)
	}
	data := randBytes(7 << 20)
	if err := writeFile(t, c, "/inbound/scan.dat.filepart", data); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := c.Chtimes("/inbound/scan.dat.filepart", mtime, mtime); err != nil {
		t.Fatalf("setstat: %v", err)
	}
	if err := c.Rename("/inbound/scan.dat.filepart", "/inbound/scan.dat"); err != nil {
		t.Fatalf("rename completing the upload: %v", err)
	}
	if got, _ := in.Get(t, "inbound/acme/scan.dat"); !bytes.Equal(got, data) {
		t.Errorf("inbound/acme/scan.dat holds %d bytes; want %d", len(got), len(data))
	}
	if n := cc.copies.Load(); n != 0 && !embeddedStore() { // it keeps no tags: the time costs a self-copy there
		t.Errorf("%d copies; want none (the rename completes the pending upload)", n)
	}
	keys := slices.DeleteFunc(in.Keys(t, ""), objfmt.IsTimesIndex) // the kept time's index is no file
	if !slices.Equal(keys, []string{"inbound/acme/scan.dat"}) {
		t.Errorf("inbound bucket holds %v; want the file alone", keys)
	}
}

func TestFolders_RenameBetweenFolders(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	other := e.s3.InOtherBucket(t)
	tn := &auth.Tenant{User: "acme", Folders: []auth.Folder{
		{Path: "/work", Bucket: e.s3.Bucket, Prefix: "work/", Perms: auth.AllPerms},
		{Path: "/inbound", Bucket: other.Bucket, Prefix: "inbound/", Perms: auth.PermWrite},
		{Path: "/outbound", Bucket: e.s3.Bucket, Prefix: "outbound/", Perms: auth.PermList | auth.PermRead},
	}}
	tr, a := newTrail(t)
	c := e.tenantSession(t, tn, a, testLog())
	for _, n := range []string{"a", "b"} {
		if err := writeFile(t, c, "/work/"+n, []byte("file "+n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Rename("/work/a", "/inbound/a"); err != nil {
		t.Fatalf("rename /work/a to /inbound/a (read and rename, then write): %v", err)
	}
	if got, _ := other.Get(t, "inbound/a"); string(got) != "file a" {
		t.Errorf("inbound/a in the other bucket = %q; want the file", got)
	}
	if _, ok := e.s3.Get(t, "work/a"); ok {
		t.Error("the source is still there after the move")
	}
	wantRefused(t, tr, "rename /work/b to /outbound/b", c.Rename("/work/b", "/outbound/b"),
		"rename refused: moving a file from /work to /outbound needs write in /outbound")
	wantRefused(t, tr, "rename /inbound/a to /work/a", c.Rename("/inbound/a", "/work/a"),
		"rename refused: moving a file from /inbound to /work needs read and rename in /inbound")
	if _, ok := e.s3.Get(t, "work/b"); !ok {
		t.Error("a refused move removed the source")
	}
	var rec *audit.Record
	for _, r := range tr.records(t) {
		if r.Event == audit.EventRename && r.Result == "ok" {
			rec = &r
		}
	}
	if rec == nil || rec.Folder != "/work" || rec.TargetFolder != "/inbound" || rec.TargetBucket != other.Bucket || rec.TargetKey != "inbound/a" {
		t.Errorf("rename record = %+v; want folders /work and /inbound, the target's bucket and key", rec)
	}
}

// With a home, a folder mounted inside it hides the home's own entry of
// that name: a listing shows the folder once.
func TestFolders_HomeListingShowsFolderOnce(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	tn := &auth.Tenant{User: "acme", Bucket: e.s3.Bucket, Prefix: "home/", Perms: auth.AllPerms, Folders: []auth.Folder{
		{Path: "/inbound", Bucket: e.s3.Bucket, Prefix: "in/acme/", Perms: auth.PermWrite},
	}}
	e.s3.Put(t, "home/inbound/old.csv", []byte("shadowed too"))
	e.s3.Put(t, "home/notes.txt", []byte("n"))
	c := e.tenantSession(t, tn, nil, testLog())
	if got, want := names(t, c, "/"), []string{"inbound/", "notes.txt"}; !slices.Equal(got, want) {
		t.Errorf("ls / = %v; want %v", got, want)
	}
	if err := writeFile(t, c, "/inbound/new.csv", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.s3.Get(t, "in/acme/new.csv"); !ok {
		t.Error("put into /inbound did not land in the folder's prefix")
	}
}

// Two logins that share a folder read each other's files there, under
// envelope encryption with encrypted names: names and data keys are bound
// to the folder's bucket and prefix, not to the login.
func TestFolders_SharedFolderReadsTheSameForTwoLogins(t *testing.T) {
	srv := s3test.Start(t)
	cfg := testConfig(srv, ChecksumsCompat)
	key := sha256.Sum256([]byte("s3sftpd TestFolders_SharedFolder"))
	kek, err := objfmt.NewKEK(key[:])
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys, cfg.Envelope, cfg.NameKey = objfmt.NewKeyring(kek), true, kek
	e := envOn(t, srv, cfg)
	shared := auth.Folder{Path: "/outbound", Bucket: srv.Bucket, Prefix: "outbound/hospital/", Perms: auth.AllPerms}
	alice := e.tenantSession(t, &auth.Tenant{User: "alice", Bucket: srv.Bucket, Prefix: "home/alice/", Perms: auth.AllPerms, Folders: []auth.Folder{shared}}, nil, testLog())
	bob := e.tenantSession(t, &auth.Tenant{User: "bob", Folders: []auth.Folder{shared}}, nil, testLog())

	if err := writeFile(t, alice, "/outbound/results.csv", []byte("for bob")); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(t, bob, "/outbound/reply.csv", []byte("for alice")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, bob, "/outbound/results.csv"); string(got) != "for bob" {
		t.Errorf("bob reads %q", got)
	}
	if got := readFile(t, alice, "/outbound/reply.csv"); string(got) != "for alice" {
		t.Errorf("alice reads %q", got)
	}
	if got, want := names(t, bob, "/outbound"), []string{"reply.csv", "results.csv"}; !slices.Equal(got, want) {
		t.Errorf("bob lists %v; want %v", got, want)
	}
	for _, k := range srv.Keys(t, "") {
		if strings.Contains(k, "results") || strings.Contains(k, "reply") {
			t.Errorf("key %q holds a plain name", k)
		}
	}
}
