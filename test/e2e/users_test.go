package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/inventory"
)

// TestE2E_UsersInventory: real OpenSSH sessions on versitygw (a listed key
// and a certificate) make a trail; `s3sftpd users` then shows the last
// login of the key that logged in, "never used" for the one that did not,
// flags the key expiring in 5 days, and its JSON and CSV parse back (the
// CSV with Python's csv module). The running server warns of the expiring
// key and counts it in s3sftpd_keys_expiring, until a reload removes it.
func TestE2E_UsersInventory(t *testing.T) {
	dir := t.TempDir()
	keygen := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ssh-keygen", append([]string{"-q"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
		}
	}
	ca, certKey := filepath.Join(dir, "ca"), filepath.Join(dir, "certuser")
	keygen("-t", "ed25519", "-N", "", "-C", "partner-ca", "-f", ca)
	keygen("-t", "ed25519", "-N", "", "-f", certKey)
	keygen("-s", ca, "-I", "acme-cert-1", "-n", "acme", "-V", "-5m:+1h", certKey+".pub")

	expiry := time.Now().Add(5 * 24 * time.Hour).UTC()
	expiring := `expiry-time="` + expiry.Format("200601021504") + `Z" ` + pubKey(t, "rsa")
	limited := `from="127.0.0.0/8,!127.0.0.5" ` + pubKey(t, "ecdsa")
	users := []testUser{
		{name: "acme", home: "partners/acme/", keys: []string{pubKey(t, "ed25519"), limited, expiring},
			extra: "allow_from = [\"127.0.0.0/8\"]\n"},
		{name: "drop", home: "partners/drop/", perms: `["write"]`, keys: []string{pubKey(t, "other")}},
	}
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{users: users, server: "trusted_user_ca_keys = \"" + ca + ".pub\"\n",
		extra: "[admin]\nlisten = \"127.0.0.1:0\"\n"})

	os.WriteFile(filepath.Join(dir, "labs.csv"), []byte("a,b\n1,2\n"), 0o600)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put labs.csv\nls\n")
	g.mustSFTP(t, dir, "acme", certKey, "ls\n")
	g.mustSFTP(t, dir, "drop", clientKeys["other"], "put labs.csv\n")

	fp := func(kind string) string {
		t.Helper()
		return toolOutput(t, 1, "ssh-keygen", "-l", "-E", "sha256", "-f", clientKeys[kind]+".pub")
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := runToolCode(t, s3srv, append([]string{"users", "-config", g.config, "-trail", g.auditFile()}, args...)...)
		if code != 0 {
			t.Fatalf("s3sftpd users %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}

	t.Run("json", func(t *testing.T) {
		var inv inventory.Inventory
		if err := json.Unmarshal([]byte(run("-format", "json")), &inv); err != nil {
			t.Fatal(err)
		}
		if len(inv.Users) != 2 || inv.Users[0].Name != "acme" || len(inv.Users[0].Keys) != 3 {
			t.Fatalf("users = %+v; want acme with 3 keys, drop", inv.Users)
		}
		acme := inv.Users[0]
		used, never, soon := acme.Keys[0], acme.Keys[1], acme.Keys[2]
		if used.Fingerprint != fp("ed25519") || used.LastLogin == nil || !strings.HasPrefix(used.LastLogin.Remote, "127.0.0.1:") ||
			time.Since(used.LastLogin.Time) > time.Minute || len(used.Flags) != 0 || used.Comment != "e2e-ed25519" {
			t.Errorf("the key that logged in: %+v; want its login from 127.0.0.1 just now, no flags", used)
		}
		if never.LastLogin != nil || !slices.Equal(never.Flags, []string{inventory.FlagNeverUsed}) ||
			!slices.Equal(never.From, []string{"127.0.0.0/8", "!127.0.0.5"}) || never.Bits != 256 {
			t.Errorf("the unused key: %+v; want never_used, its from= and 256 bits", never)
		}
		if soon.Fingerprint != fp("rsa") || soon.Expiry == nil || !soon.Expiry.Equal(expiry.Truncate(time.Minute)) ||
			!slices.Equal(soon.Flags, []string{inventory.FlagExpiring, inventory.FlagNeverUsed}) || soon.Bits != 3072 {
			t.Errorf("the expiring key: %+v; want expiry %v, flags expiring and never_used, 3072 bits", soon, expiry)
		}
		if l := acme.LastLogin; l == nil || l.CertID != "acme-cert-1" {
			t.Errorf("acme's last login = %+v; want the certificate acme-cert-1", l)
		}
		if !slices.Equal(acme.AllowFrom, []string{"127.0.0.0/8"}) || !slices.Equal(acme.AuthMethods, []string{"publickey", "certificate"}) {
			t.Errorf("acme allow_from %q, methods %q", acme.AllowFrom, acme.AuthMethods)
		}
		if f := inv.Users[1].Folders; len(f) != 1 || f[0].Prefix != "partners/drop/" || f[0].Bucket != s3srv.Bucket || !slices.Equal(f[0].Permissions, []string{"write"}) {
			t.Errorf("drop's folders = %+v; want / on partners/drop/ with write", f)
		}
		if len(inv.TrustedCAs) != 1 || inv.TrustedCAs[0].Type != "ssh-ed25519" {
			t.Errorf("trusted CAs = %+v; want the one ed25519 CA", inv.TrustedCAs)
		}
		if inv.Trail == nil || inv.Trail.Records < 10 || inv.Trail.Skipped != 0 {
			t.Errorf("trail summary = %+v", inv.Trail)
		}
	})

	t.Run("csv", func(t *testing.T) {
		py := exec.Command("/usr/bin/python3", "-c", `import csv, json, sys
print(json.dumps(list(csv.DictReader(sys.stdin))))`)
		py.Stdin = strings.NewReader(run("-format", "csv"))
		out, err := py.Output()
		if err != nil {
			t.Fatalf("python3 csv: %v", err)
		}
		var rows []map[string]string
		if err := json.Unmarshal(out, &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 5 { // the CA, acme's 3 keys, drop's key
			t.Fatalf("%d rows; want 5: %v", len(rows), rows)
		}
		byFP := map[string]map[string]string{}
		for _, r := range rows {
			byFP[r["key_fingerprint"]] = r
		}
		if r := byFP[fp("ed25519")]; r["user"] != "acme" || !strings.HasPrefix(r["key_last_login_remote"], "127.0.0.1:") || r["flags"] != "" {
			t.Errorf("the used key's row: %v", r)
		}
		if r := byFP[fp("rsa")]; r["flags"] != "expiring never_used" || r["key_expiry"] != expiry.Truncate(time.Minute).Format(time.RFC3339) {
			t.Errorf("the expiring key's row: %v", r)
		}
		if r := byFP[fp("other")]; r["user"] != "drop" || r["folders"] != "/ -> "+s3srv.Bucket+"/partners/drop/ [write]" || r["key_last_login"] == "" {
			t.Errorf("drop's row: %v", r)
		}
	})

	t.Run("text", func(t *testing.T) {
		out := run()
		for _, want := range []string{"2 users, 4 keys (2 flagged), 1 trusted user CAs", "never (in the trail read)", "expiring never_used",
			`certificate "acme-cert-1"`, "allow from: 127.0.0.0/8"} {
			if !strings.Contains(out, want) {
				t.Errorf("text lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("reminder", func(t *testing.T) {
		addr := g.adminAddr(t)
		if got := value(scrape(t, addr), "s3sftpd_keys_expiring", nil); got != 1 {
			t.Errorf("s3sftpd_keys_expiring = %v; want 1", got)
		}
		var warned int
		for _, line := range strings.Split(g.logs.String(), "\n") {
			var rec struct{ Level, Msg, User, KeyFP string }
			json.Unmarshal([]byte(line), &rec)
			if strings.HasPrefix(rec.Msg, "key expires soon") {
				warned++
				if !strings.Contains(line, `"key_fp":"`+fp("rsa")+`"`) || rec.User != "acme" || rec.Level != "WARN" {
					t.Errorf("warning %s; want the rsa key of acme", line)
				}
			}
		}
		if warned != 1 {
			t.Errorf("%d expiry warnings at start-up; want 1:\n%s", warned, g.logs.String())
		}
		g.rewrite(t, func(o *gatewayOpts) { o.users[0].keys = o.users[0].keys[:2] })
		waitFor(t, 10*time.Second, "s3sftpd_keys_expiring 0 after the reload", func() bool {
			return value(scrape(t, addr), "s3sftpd_keys_expiring", nil) == 0
		})
	})
}
