package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/pickup"
)

// Pickup and retention (issue 20): an /outbound folder whose files a
// whole download deletes, and whose files are deleted after 20 s anyway.

// pickupGroup is the partners' /outbound folder with the lifecycle keys
// given.
func pickupGroup(keys string) string {
	return `[[groups]]
name = "partners"
  [[groups.folders]]
  path = "/outbound"
  prefix = "outbound/{user}/"
  permissions = ["list", "read", "delete"]
  ` + keys + "\n"
}

func pickupUsers(t *testing.T) []testUser {
	return []testUser{{name: "acme", keys: []string{pubKey(t, "ed25519")}, extra: "groups = [\"partners\"]\n"}}
}

// TestPickup_OpenSSHGet: an OpenSSH `get` of a whole file deletes it and
// the trail records pickup_delete after the close; a `get` killed midway
// (a slow link, the client killed) leaves the file and records none.
func TestPickup_OpenSSHGet(t *testing.T) {
	srv := s3test.Start(t)
	g := startGateway(t, srv, gatewayOpts{users: pickupUsers(t), extra: pickupGroup("delete_after_download = true")})
	data := bytes.Repeat([]byte("lab results;"), 100000)
	srv.Put(t, "outbound/acme/report.csv", data)
	big := bytes.Repeat([]byte("x"), 8<<20)
	srv.Put(t, "outbound/acme/big.bin", big)
	dir := t.TempDir()
	key := clientKeys["ed25519"]

	g.mustSFTP(t, dir, "acme", key, "get /outbound/report.csv\n")
	sameFile(t, filepath.Join(dir, "report.csv"), data)
	if _, ok := srv.Get(t, "outbound/acme/report.csv"); ok {
		t.Errorf("the whole get left outbound/acme/report.csv in the bucket")
	}
	recs := find(readTrail(t, g.auditFile()), func(r audit.Record) bool { return r.Event == pickup.EventPickupDelete })
	if len(recs) != 1 || recs[0].Result != audit.ResultOK || recs[0].User != "acme" || recs[0].Path != "/outbound/report.csv" ||
		recs[0].Folder != "/outbound" || recs[0].Session == "" || recs[0].Bytes == nil || *recs[0].Bytes != int64(len(data)) {
		t.Errorf("pickup_delete records = %+v; want one ok of acme's /outbound/report.csv in its session", recs)
	}

	// At 800 kbit/s the 8 MiB file takes over a minute; the client is
	// killed once the download has started.
	args := append(g.sshOpts(key), "-P", g.port, "-l", "800", "-b", "-", "acme@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("get /outbound/big.bin\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the slow get to open big.bin", func() bool {
		return len(find(readTrail(t, g.auditFile()), func(r audit.Record) bool {
			return r.Event == audit.EventOpen && r.Path == "/outbound/big.bin" && r.Result == audit.ResultOK
		})) > 0
	})
	time.Sleep(time.Second) // some bytes on their way
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, 20*time.Second, "the killed get's close record", func() bool {
		return len(find(readTrail(t, g.auditFile()), func(r audit.Record) bool {
			return r.Event == audit.EventClose && r.Path == "/outbound/big.bin"
		})) > 0
	})
	if got, ok := srv.Get(t, "outbound/acme/big.bin"); !ok || !bytes.Equal(got, big) {
		t.Errorf("a killed get deleted or changed outbound/acme/big.bin")
	}
	if recs := find(readTrail(t, g.auditFile()), func(r audit.Record) bool {
		return r.Event == pickup.EventPickupDelete && r.Path == "/outbound/big.bin"
	}); len(recs) != 0 {
		t.Errorf("pickup_delete after a killed get: %+v", recs)
	}
}

// TestRetention_TwoGatewaysShareABucket: two gateway processes sweep one
// folder with retention = "20s" and not_picked_up_after = "10s": the old
// files go, the younger stay, and across both trails each old file has
// one not_picked_up and one retention_delete.
func TestRetention_TwoGatewaysShareABucket(t *testing.T) {
	srv := s3test.Start(t)
	opts := gatewayOpts{users: pickupUsers(t), extra: pickupGroup("retention = \"20s\"\n  not_picked_up_after = \"10s\"")}
	old := []string{"outbound/acme/a.csv", "outbound/acme/sub/b.csv"}
	for _, k := range old {
		srv.Put(t, k, []byte("old "+k))
	}
	start := time.Now()
	gws := []*gateway{startGateway(t, srv, opts), startGateway(t, srv, opts)}
	time.Sleep(time.Until(start.Add(12 * time.Second)))
	srv.Put(t, "outbound/acme/young.csv", []byte("young"))
	waitFor(t, 30*time.Second, "the sweep to delete the old files", func() bool {
		keys := srv.Keys(t, "outbound/")
		return !slices.Contains(keys, old[0]) && !slices.Contains(keys, old[1])
	})
	keys := srv.Keys(t, "outbound/")
	if want := []string{"outbound/acme/" + objfmt.LifecycleLease, "outbound/acme/young.csv"}; !slices.Equal(keys, want) {
		t.Errorf("after the sweep the folder holds %q; want %q", keys, want)
	}
	var all []audit.Record
	for _, g := range gws {
		all = append(all, readTrail(t, g.auditFile())...)
	}
	for _, event := range []string{pickup.EventNotPickedUp, pickup.EventRetentionDelete} {
		count := map[string]int{}
		for _, r := range find(all, func(r audit.Record) bool { return r.Event == event }) {
			count[r.Key]++
			if r.User != "acme" || r.Folder != "/outbound" || r.Result != audit.ResultOK {
				t.Errorf("%s = %+v; want acme's, in /outbound, ok", event, r)
			}
		}
		for _, r := range find(all, func(r audit.Record) bool { return r.Event == event && slices.Contains(old, r.Key) }) {
			t.Logf("%s of %s at %.1fs after the upload", event, r.Key, r.Time.Sub(start).Seconds())
		}
		for _, k := range old {
			if count[k] != 1 {
				t.Errorf("%s of %s recorded %d times across both trails; want once", event, k, count[k])
			}
		}
		if n := count["outbound/acme/young.csv"]; n > 1 || (event == pickup.EventRetentionDelete && n > 0) {
			t.Errorf("%s of the young file recorded %d times", event, n)
		}
	}
}

// TestPickup_Clients: a whole download by each client the partners use
// (WinSCP's engine psftp, lftp, curl, paramiko, rclone) picks the file up
// once the client closed it; lftp at times ends its session without
// closing, and then the file stays.
func TestPickup_Clients(t *testing.T) {
	srv := s3test.Start(t)
	g := startGateway(t, srv, gatewayOpts{users: pickupUsers(t), extra: pickupGroup("delete_after_download = true")})
	for _, c := range []struct {
		name string
		ops  func(*testing.T, *gateway) clientOps
	}{
		{"psftp", psftpOps},
		{"lftp", lftpOps},
		{"curl", curlOps},
		{"paramiko", paramikoOps},
		{"rclone", rcloneOps},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := "outbound/acme/" + c.name + ".csv"
			data := bytes.Repeat([]byte(c.name+" results;"), 300000)
			srv.Put(t, key, data)
			local := filepath.Join(t.TempDir(), "got.csv")
			if out, err := c.ops(t, g).get("/outbound/"+c.name+".csv", local); err != nil {
				t.Fatalf("get: %v\n%s", err, out)
			}
			sameFile(t, local, data)
			path := "/outbound/" + c.name + ".csv"
			var closed audit.Record
			waitFor(t, 10*time.Second, "the close record", func() bool {
				recs := find(readTrail(t, g.auditFile()), func(r audit.Record) bool { return r.Event == audit.EventClose && r.Path == path })
				if len(recs) > 0 {
					closed = recs[0]
				}
				return len(recs) > 0
			})
			if closed.Result == audit.ResultAborted && c.name == "lftp" {
				// lftp at times ends its session without closing the file it
				// read: nothing says it got the bytes, so the file stays.
				if _, ok := srv.Get(t, key); !ok {
					t.Errorf("a download that was never closed (aborted) deleted %s", key)
				}
				return
			}
			if closed.Result != audit.ResultOK {
				t.Fatalf("close = %+v; want ok", closed)
			}
			waitFor(t, 10*time.Second, "the pickup to delete "+key, func() bool { // a client may leave before the close's answer
				_, ok := srv.Get(t, key)
				return !ok
			})
		})
	}
}

// TestPickup_EncryptingFolder: in a folder whose downloads are OpenPGP
// messages, a client that reads all but the message's last bytes and
// closes picks nothing up, though the gateway read all of the plaintext
// to make them; the whole message does.
func TestPickup_EncryptingFolder(t *testing.T) {
	srv := s3test.Start(t)
	_, gwKey, partnerKeys := gateKeys(t, t.TempDir())
	users := []testUser{{name: "acme", keys: []string{pubKey(t, "ed25519")},
		extra: "groups = [\"partners\"]\npgp_public_keys_file = \"" + partnerKeys + "\"\n"}}
	g := startGateway(t, srv, gatewayOpts{users: users,
		extra: pickupGroup("delete_after_download = true\n  pgp = \"encrypt\"") + "[pgp]\nprivate_key_file = \"" + gwKey + "\"\n"})
	srv.Put(t, "outbound/acme/claims.csv", bytes.Repeat([]byte("claim;"), 100000))
	op := paramikoOp(t, g)
	out, err := op("stat", "/outbound/claims.csv.pgp")
	if err != nil {
		t.Fatalf("stat: %v\n%s", err, out)
	}
	size := strings.Fields(out)[0]
	n, _ := strconv.Atoi(size)
	if out, err := op("readpart", "/outbound/claims.csv.pgp", strconv.Itoa(n-100)); err != nil {
		t.Fatalf("read all but 100 bytes: %v\n%s", err, out)
	}
	if _, ok := srv.Get(t, "outbound/acme/claims.csv"); !ok {
		t.Fatalf("a download that missed the message's last 100 bytes deleted the file")
	}
	if out, err := op("get", "/outbound/claims.csv.pgp", filepath.Join(t.TempDir(), "c.pgp")); err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	if _, ok := srv.Get(t, "outbound/acme/claims.csv"); ok {
		t.Errorf("the whole encrypted download left the file")
	}
}

// TestRetention_DoctorOnVersitygw: the doctor has a row per folder with a
// retention; versitygw has no lifecycle API, so it says the check could
// not be made, never that it passed.
func TestRetention_DoctorOnVersitygw(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "s3sftpd.toml")
	text := configText(dir, srv, gatewayOpts{checksums: "compat", drain: "5s", users: pickupUsers(t), extra: pickupGroup(`retention = "30d"`)})
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, _ := runToolCode(t, srv, "doctor", "-config", path)
	if got := statusOf(t, out, "retention:outbound/acme/"); got != "UNKNOWN" || !strings.Contains(out, "could not be checked") {
		t.Errorf("retention row = %s; want UNKNOWN, could not be checked\n%s%s", got, out, errOut)
	}
}
