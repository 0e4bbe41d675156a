package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/clamdtest"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// Folders (issue 18): the partner layout of the issue, a group template
// applied to several users, served to every client against two buckets:
// /inbound (write, mkdir) in a bucket of its own, /outbound (list, read,
// delete) in [s3] bucket. acme also has a folder of its own, /work (every
// permission, [s3] bucket), to move files between folders.

// partnerGroup is the group template, with /inbound in the bucket inbound.
func partnerGroup(inbound string) string {
	return fmt.Sprintf(`[[groups]]
name = "partners"
  [[groups.folders]]
  path = "/inbound"
  prefix = "inbound/{user}/"
  bucket = %q
  permissions = ["write", "mkdir"]
  [[groups.folders]]
  path = "/outbound"
  prefix = "outbound/{user}/"
  permissions = ["list", "read", "delete"]
`, inbound)
}

// partnerUsers are acme, beta and gamma in the group, without homes;
// acme's own /work folder is added to the group's.
func partnerUsers(t *testing.T) []testUser {
	in := "groups = [\"partners\"]\n"
	return []testUser{
		{name: "acme", keys: []string{pubKey(t, "ed25519")}, extra: in +
			"  [[users.folders]]\n  path = \"/work\"\n  prefix = \"work/acme/\"\n  permissions = [\"list\", \"read\", \"write\", \"overwrite\", \"delete\", \"rename\", \"mkdir\"]\n"},
		{name: "beta", keys: []string{pubKey(t, "ed25519")}, extra: in},
		{name: "gamma", keys: []string{pubKey(t, "ecdsa")}, extra: in},
	}
}

func startPartnerGateway(t *testing.T) (g *gateway, out, in *s3test.Server) {
	t.Helper()
	out = s3test.Start(t)
	in = out.InOtherBucket(t)
	g = startGateway(t, out, gatewayOpts{users: partnerUsers(t), extra: partnerGroup(in.Bucket)})
	return g, out, in
}

// TestFolders_Clients: with every client, acme sees /inbound and /outbound
// at /, drops a file into /inbound (stored under inbound/acme/ in the
// inbound bucket) and cannot read, list or delete there; picks a file up
// from /outbound and deletes it, and cannot upload there.
func TestFolders_Clients(t *testing.T) {
	g, out, in := startPartnerGateway(t)
	for _, c := range []struct {
		name string
		ops  func(*testing.T, *gateway) clientOps
	}{
		{"openssh", opensshOps},
		{"psftp", psftpOps},
		{"lftp", lftpOps},
		{"curl", curlOps},
		{"paramiko", paramikoOps},
		{"rclone", rcloneOps},
	} {
		t.Run(c.name, func(t *testing.T) {
			ops := c.ops(t, g)
			dir := t.TempDir()
			entries := ops.entries
			if entries == nil {
				entries = ops.list
			}
			if o, err := entries("/"); err != nil || !strings.Contains(o, "inbound") || !strings.Contains(o, "outbound") {
				t.Errorf("ls / = %v; want inbound and outbound:\n%s", err, o)
			}
			local := filepath.Join(dir, "labs.csv")
			data := writeRandom(t, local, 3000)
			name := c.name + "-labs.csv"
			if o, err := ops.put(local, "/inbound/"+name); err != nil {
				t.Fatalf("put into /inbound: %v\n%s", err, o)
			}
			if got, ok := in.Get(t, "inbound/acme/"+name); !ok || string(got) != string(data) {
				t.Errorf("inbound bucket at inbound/acme/%s holds %d bytes (%v); want the %d uploaded", name, len(got), ok, len(data))
			}
			if _, ok := out.Get(t, "inbound/acme/"+name); ok {
				t.Error("the upload also landed in the default bucket")
			}
			if o, err := ops.get("/inbound/"+name, filepath.Join(dir, "back.csv")); err == nil {
				t.Errorf("get from write-only /inbound succeeded:\n%s", o)
			}
			if o, err := ops.list("/inbound"); err == nil && strings.Contains(o, name) {
				t.Errorf("ls of write-only /inbound listed the file:\n%s", o)
			}
			if ops.remove != nil {
				if o, err := ops.remove("/inbound/" + name); err == nil {
					t.Errorf("rm in /inbound succeeded:\n%s", o)
				}
			}
			if _, ok := in.Get(t, "inbound/acme/"+name); !ok {
				t.Error("a refused request removed the upload")
			}

			report := c.name + "-report.txt"
			out.Put(t, "outbound/acme/"+report, []byte("for "+c.name))
			if o, err := ops.list("/outbound"); err != nil || !strings.Contains(o, report) {
				t.Errorf("ls /outbound = %v; want %s:\n%s", err, report, o)
			}
			down := filepath.Join(dir, "report.txt")
			if o, err := ops.get("/outbound/"+report, down); err != nil {
				t.Errorf("get from /outbound: %v\n%s", err, o)
			} else if b, _ := os.ReadFile(down); string(b) != "for "+c.name {
				t.Errorf("got %q from /outbound", b)
			}
			if ops.remove != nil {
				if o, err := ops.remove("/outbound/" + report); err != nil {
					t.Errorf("rm in /outbound: %v\n%s", err, o)
				} else if _, ok := out.Get(t, "outbound/acme/"+report); ok {
					t.Error("rm in /outbound left the object")
				}
			}
			if o, err := ops.put(local, "/outbound/"+name); err == nil {
				t.Errorf("put into /outbound succeeded:\n%s", o)
			}
			if _, ok := out.Get(t, "outbound/acme/"+name); ok {
				t.Error("a refused put into /outbound stored the file")
			}
		})
	}
}

// TestFolders_RefusalsSayWhy: OpenSSH sftp shows the partner why a request
// was refused, in the tree's words; the trail names the folder and key.
func TestFolders_RefusalsSayWhy(t *testing.T) {
	g, out, in := startPartnerGateway(t)
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	writeRandom(t, filepath.Join(dir, "a.csv"), 100)
	g.mustSFTP(t, dir, "acme", key, "put a.csv /work/a.csv\nput a.csv /work/b.csv\n")
	for _, tc := range []struct{ batch, want string }{
		{"put a.csv /a.csv", "upload refused: / is not a folder; use /inbound or /work"},
		{"mkdir /new", "mkdir refused: / is not a folder; use /inbound or /work"},
		{"rename /work/b.csv /outbound/b.csv", "rename refused: moving a file from /work to /outbound needs write in /outbound"},
		{"rename /work /w2", "rename refused: /work is a folder of your account and cannot be changed"},
	} {
		// OpenSSH prints its own words for permission denied; the trail
		// holds the message the partner's client was sent.
		if o, err := g.sftp(t, dir, "acme", key, tc.batch+"\n"); err == nil {
			t.Errorf("%s succeeded:\n%s", tc.batch, o)
		}
		if len(find(readTrail(t, g.auditFile()), func(r audit.Record) bool { return r.Error == tc.want })) == 0 {
			t.Errorf("%s: no record of the message %q", tc.batch, tc.want)
		}
	}
	// between folders: a copy into the inbound bucket, then a delete
	g.mustSFTP(t, dir, "acme", key, "rename /work/a.csv /inbound/a.csv\n")
	if _, ok := in.Get(t, "inbound/acme/a.csv"); !ok {
		t.Error("rename /work → /inbound did not store the file in the inbound bucket")
	}
	if _, ok := out.Get(t, "work/acme/a.csv"); ok {
		t.Error("rename /work → /inbound left the source")
	}
	recs := find(readTrail(t, g.auditFile()), func(r audit.Record) bool {
		return r.Event == audit.EventRename && r.Result == "ok"
	})
	if len(recs) != 1 || recs[0].Folder != "/work" || recs[0].TargetFolder != "/inbound" || recs[0].TargetBucket != in.Bucket || recs[0].TargetKey != "inbound/acme/a.csv" {
		t.Errorf("rename records = %+v; want one naming /work, /inbound, the inbound bucket and key", recs)
	}
}

// TestFolders_WinSCPUploadInWriteOnlyFolder: WinSCP's sequence (stat,
// name.filepart, setstat, rename to name), driven by paramiko, completes in
// write-only /inbound without a copy: the rename commits the pending upload.
func TestFolders_WinSCPUploadInWriteOnlyFolder(t *testing.T) {
	g, _, in := startPartnerGateway(t)
	op := paramikoOp(t, g)
	local := filepath.Join(t.TempDir(), "scan.dat")
	data := writeRandom(t, local, 7<<20)
	o, err := op("batch", "stat", "/inbound/scan.dat", ";", "putfo", local, "/inbound/scan.dat.filepart", ";",
		"utime", "/inbound/scan.dat.filepart", "1600000000", ";", "chmod", "/inbound/scan.dat.filepart", "644", ";",
		"rename", "/inbound/scan.dat.filepart", "/inbound/scan.dat")
	if err != nil || !strings.Contains(o, "ERR stat") || strings.Count(o, "OK ") != 4 {
		t.Fatalf("WinSCP's sequence = %v; want the stat to find nothing and the rest to succeed:\n%s", err, o)
	}
	if got, _ := in.Get(t, "inbound/acme/scan.dat"); string(got) != string(data) {
		t.Errorf("inbound/acme/scan.dat holds %d bytes; want %d", len(got), len(data))
	}
	if keys := slices.DeleteFunc(in.Keys(t, "inbound/acme/"), objfmt.IsTimesIndex); len(keys) != 1 { // the index of kept times is no file
		t.Errorf("inbound/acme/ holds %v; want scan.dat alone", keys)
	}
	recs := find(readTrail(t, g.auditFile()), func(r audit.Record) bool { return r.Event == audit.EventRename })
	if len(recs) != 1 || recs[0].Op != "commit pending upload" || recs[0].Folder != "/inbound" {
		t.Errorf("rename records = %+v; want one commit of the pending upload in /inbound (no copy)", recs)
	}
}

// TestFolders_ReloadClosesOnlyTheChangedUser: a reload that gives one user
// of the group other folder permissions closes that user's sessions and
// only those; the other users of the template go on.
func TestFolders_ReloadClosesOnlyTheChangedUser(t *testing.T) {
	g, _, in := startPartnerGateway(t)
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "f.csv"), 1000)
	changedIn, changed, changedOut := g.openSession(t, dir, "beta", clientKeys["ed25519"])
	keptIn, kept, keptOut := g.openSession(t, dir, "gamma", clientKeys["ecdsa"])
	waitFor(t, 10*time.Second, "both sessions to log in", func() bool { return strings.Count(g.logs.String(), `"msg":"login"`) == 2 })

	g.rewrite(t, func(o *gatewayOpts) { // beta's own /outbound replaces the group's: read only
		o.users[1].extra += "  [[users.folders]]\n  path = \"/outbound\"\n  prefix = \"outbound/beta/\"\n  permissions = [\"list\", \"read\"]\n"
	})
	waitFor(t, 5*time.Second, "the reload", func() bool { return strings.Contains(g.logs.String(), `"msg":"config reloaded"`) })

	fmt.Fprintln(changedIn, "put f.csv /inbound/f.csv")
	changedIn.Close()
	if err := changed.Wait(); err == nil {
		t.Errorf("the session of the user whose folders changed could still upload:\n%s", changedOut)
	}
	fmt.Fprintln(keptIn, "put f.csv /inbound/f.csv")
	keptIn.Close()
	if err := kept.Wait(); err != nil {
		t.Errorf("an unchanged user's session was broken by the reload: %v\n%s", err, keptOut)
	}
	if _, ok := in.Get(t, "inbound/gamma/f.csv"); !ok {
		t.Error("the kept session's upload is not in the inbound bucket")
	}
	if _, ok := in.Get(t, "inbound/beta/f.csv"); ok {
		t.Error("the closed session's upload reached S3")
	}
	cut := find(readTrail(t, g.auditFile()), func(r audit.Record) bool {
		return r.Event == audit.EventDisconnect && strings.HasPrefix(r.Reason, "revoked: the user's home, bucket, folders or permissions changed")
	})
	if len(cut) != 1 || cut[0].User != "beta" {
		t.Errorf("revoked disconnects = %+v; want beta's alone", cut)
	}
}

// TestFolders_SharedFolderUnderEnvelope: two staff logins of a group share
// one folder (the same prefix); under envelope encryption with encrypted
// names each reads and lists what the other stored there, since names and
// data keys are bound to the folder, not to the login. The bucket holds no
// name in the clear.
func TestFolders_SharedFolderUnderEnvelope(t *testing.T) {
	s3srv := s3test.Start(t)
	kek := filepath.Join(t.TempDir(), "kek")
	writeKEK(t, kek)
	group := `[[groups]]
name = "hospital"
  [[groups.folders]]
  path = "/shared"
  prefix = "outbound/acme-staff/"
  permissions = ["list", "read", "write", "delete"]
`
	users := []testUser{
		{name: "staff1", keys: []string{pubKey(t, "ed25519")}, extra: "groups = [\"hospital\"]\n"},
		{name: "staff2", keys: []string{pubKey(t, "ecdsa")}, extra: "groups = [\"hospital\"]\n"},
	}
	g := startGateway(t, s3srv, gatewayOpts{users: users, extra: group,
		enc: fmt.Sprintf("mode = \"envelope\"\nnames = \"encrypted\"\nkek_file = %q\n", kek)})
	dir := t.TempDir()
	big := writeRandom(t, filepath.Join(dir, "SMITH_JOHN_labs.csv"), 6<<20+17)
	g.mustSFTP(t, dir, "staff1", clientKeys["ed25519"], "put SMITH_JOHN_labs.csv /shared/\n")
	listing := g.mustSFTP(t, dir, "staff2", clientKeys["ecdsa"], "ls -l /shared\nget /shared/SMITH_JOHN_labs.csv back.csv\n")
	if !listed(listing, "SMITH_JOHN_labs.csv", len(big)) {
		t.Errorf("staff2's listing of /shared does not show staff1's file with its size:\n%s", listing)
	}
	sameFile(t, filepath.Join(dir, "back.csv"), big)
	reply := writeRandom(t, filepath.Join(dir, "DOE_JANE_reply.txt"), 500)
	g.mustSFTP(t, dir, "staff2", clientKeys["ecdsa"], "put DOE_JANE_reply.txt /shared/\n")
	g.mustSFTP(t, dir, "staff1", clientKeys["ed25519"], "get /shared/DOE_JANE_reply.txt reply.txt\n")
	sameFile(t, filepath.Join(dir, "reply.txt"), reply)
	keys := s3srv.Keys(t, "")
	if len(keys) != 2 {
		t.Errorf("bucket holds %v; want the two files", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "outbound/acme-staff/") || strings.Contains(k, "SMITH") || strings.Contains(k, "DOE") {
			t.Errorf("key %q: want it under the shared prefix with its name encrypted", k)
		}
	}
}

// TestFolders_ScannedInboundOnly: a group folder's gates are its own: the
// template's /inbound scans its uploads (EICAR refused, nothing stored),
// acme's own /work beside it does not.
func TestFolders_ScannedInboundOnly(t *testing.T) {
	out := s3test.Start(t)
	in := out.InOtherBucket(t)
	clamd := clamdtest.Start(t, clamdtest.Options{})
	group := strings.Replace(partnerGroup(in.Bucket), `permissions = ["write", "mkdir"]`, "permissions = [\"write\", \"mkdir\"]\n  scan = true", 1)
	g := startGateway(t, out, gatewayOpts{users: partnerUsers(t), extra: group + "\n[scan]\nclamd = \"" + clamd.Address + "\"\n"})
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	os.WriteFile(filepath.Join(dir, "eicar.com"), []byte(clamdtest.EICAR), 0o644)
	o, err := g.sftp(t, dir, "acme", key, "put eicar.com /inbound/eicar.com\n")
	refused(t, g, o, err, "/inbound/eicar.com", "upload refused: the file contains malware ("+clamdtest.EICARSignature+")", "malware")
	if keys := in.Keys(t, ""); len(keys) > 0 {
		t.Errorf("the inbound bucket holds %v; want nothing stored", keys)
	}
	g.mustSFTP(t, dir, "acme", key, "put eicar.com /work/eicar.com\n")
	if _, ok := out.Get(t, "work/acme/eicar.com"); !ok {
		t.Error("the unscanned /work did not store the file")
	}
}
