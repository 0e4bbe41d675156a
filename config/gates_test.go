package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/s3sftpd/s3sftpd/auth"
)

// pgpKeyFiles are armored OpenPGP keys for [pgp] and pgp_public_keys_file.
type pgpKeyFiles struct {
	gatewaySecret, partnerPublic, expiredPublic string
}

func newPGPKeyFiles(t *testing.T) pgpKeyFiles {
	t.Helper()
	armored := func(e *openpgp.Entity, secret bool) string {
		var b bytes.Buffer
		typ := openpgp.PublicKeyType
		if secret {
			typ = openpgp.PrivateKeyType
		}
		w, err := armor.Encode(&b, typ, nil)
		if err != nil {
			t.Fatal(err)
		}
		if secret {
			err = e.SerializePrivate(w, nil)
		} else {
			err = e.Serialize(w)
		}
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		return b.String()
	}
	entity := func(name string, cfg *packet.Config) *openpgp.Entity {
		e, err := openpgp.NewEntity(name, "", name+"@s3sftpd.test", cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	past := time.Now().Add(-72 * time.Hour)
	return pgpKeyFiles{
		gatewaySecret: armored(entity("gateway", nil), true),
		partnerPublic: armored(entity("acme", nil), false),
		expiredPublic: armored(entity("old", &packet.Config{KeyLifetimeSecs: 60, Time: func() time.Time { return past }}), false),
	}
}

func TestLoad_Gates(t *testing.T) {
	keys := newPGPKeyFiles(t)
	t.Chdir(t.TempDir())
	writeFiles(t, ".", map[string]string{
		"config.toml": "[scan]\nclamd = \"unix:/run/clamav/clamd.ctl\"\non_unavailable = \"accept\"\nmax_size = \"2GiB\"\n" +
			"[pgp]\nprivate_key_file = \"pgp/gateway.asc\"\n" +
			"[s3]\nbucket = \"b\"\n" + validUser + "pgp_public_keys_file = \"partners/acme.asc\"\n",
		"pgp/gateway.asc":   keys.gatewaySecret,
		"partners/acme.asc": keys.partnerPublic,
	})
	os.Chmod("pgp/gateway.asc", 0o600)
	cfg, err := Load("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Scan; s.Clamd != "unix:/run/clamav/clamd.ctl" || s.OnUnavailable != "accept" || s.MaxSize != 2*GiB {
		t.Errorf("Scan = %+v", s)
	}
	if cfg.PGP.PrivateKey == nil || cfg.PGP.PrivateKeyFile != filepath.Join(".", "pgp/gateway.asc") {
		t.Errorf("PGP = %+v; want the gateway's key loaded", cfg.PGP)
	}
	if u := cfg.Users[0]; len(u.PGPPublicKeys) != 1 || u.PGPPublicKeysFile != "partners/acme.asc" {
		t.Errorf("user's OpenPGP keys = %d from %q; want 1", len(u.PGPPublicKeys), u.PGPPublicKeysFile)
	}
	if d := defaults().Scan; d.OnUnavailable != "refuse" || d.Clamd != "" || d.MaxSize != GiB {
		t.Errorf("default [scan] = %+v; want off, and refusing when on", d)
	}
}

// TestLoad_GatesErrors: each bad value is reported at its key's
// file:line:col with what is wrong, key files included.
func TestLoad_GatesErrors(t *testing.T) {
	keys := newPGPKeyFiles(t)
	user := "[s3]\nbucket = \"b\"\n" + validUser
	for _, tc := range []struct {
		name, config string
		files        map[string]string
		mode         os.FileMode // of gw.asc
		want         []string
	}{
		{name: "clamd-public", config: "[scan]\nclamd = \"tcp:8.8.8.8:3310\"\n" + user,
			want: []string{`config.toml:2:1: scan.clamd: clamd address "tcp:8.8.8.8:3310": 8.8.8.8 is a public address; clamd's protocol is unencrypted and unauthenticated, so use a unix socket, loopback or a private address`}},
		{name: "clamd-form", config: "[scan]\nclamd = \"/run/clamav/clamd.ctl\"\n" + user,
			want: []string{`config.toml:2:1: scan.clamd: clamd address "/run/clamav/clamd.ctl": want unix:/path or tcp:host:port`}},
		{name: "on-unavailable", config: "[scan]\non_unavailable = \"ignore\"\n" + user,
			want: []string{`config.toml:2:1: scan.on_unavailable: must be "refuse" or "accept", got "ignore"`}},
		{name: "max-size", config: "[scan]\nmax_size = \"5GiB\"\n" + user,
			want: []string{`config.toml:2:1: scan.max_size: must be more than 0 and at most 4GiB (clamd's largest StreamMaxLength), got 5 GiB`}},
		{name: "unknown-key", config: "[scan]\nclamd_address = \"unix:/x\"\n" + user,
			want: []string{`config.toml:2:1: unknown key "scan.clamd_address"`}},
		{name: "private-key-readable", config: "[pgp]\nprivate_key_file = \"gw.asc\"\n" + user, files: map[string]string{"gw.asc": keys.gatewaySecret}, mode: 0o644,
			want: []string{`config.toml:2:1: pgp.private_key_file: gw.asc is readable or writable by others (mode 0644); it holds the gateway's secret key: chmod 600 it`}},
		{name: "private-key-missing", config: "[pgp]\nprivate_key_file = \"gw.asc\"\n" + user,
			want: []string{`config.toml:2:1: pgp.private_key_file: "gw.asc" does not exist`}},
		{name: "private-key-public-only", config: "[pgp]\nprivate_key_file = \"gw.asc\"\n" + user, files: map[string]string{"gw.asc": keys.partnerPublic}, mode: 0o600,
			want: []string{"holds no secret key"}},
		{name: "partner-key-expired", config: "[pgp]\nprivate_key_file = \"gw.asc\"\n" + user + "pgp_public_keys_file = \"old.asc\"\n",
			files: map[string]string{"gw.asc": keys.gatewaySecret, "old.asc": keys.expiredPublic}, mode: 0o600,
			want: []string{"config.toml:9:1: users[0].pgp_public_keys_file: key ", "(old <old@s3sftpd.test>): expired on "}},
		{name: "partner-key-without-gateway-key", config: user + "pgp_public_keys_file = \"acme.asc\"\n",
			files: map[string]string{"acme.asc": keys.partnerPublic},
			want:  []string{`config.toml:7:1: users[0].pgp_public_keys_file: needs the gateway's own key: set [pgp] private_key_file`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files
			if tc.mode != 0 {
				// loadLines writes files 0644: write gw.asc with its mode after.
				gw := files["gw.asc"]
				files = map[string]string{}
				for k, v := range tc.files {
					if k != "gw.asc" {
						files[k] = v
					}
				}
				dir := t.TempDir()
				t.Chdir(dir)
				writeFiles(t, ".", files)
				os.WriteFile("gw.asc", []byte(gw), tc.mode)
				os.Chmod("gw.asc", tc.mode)
				writeFiles(t, ".", map[string]string{"config.toml": tc.config})
				_, err := Load("config.toml")
				checkLines(t, err, tc.want)
				return
			}
			got := loadLines(t, tc.config, files)
			joined := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(joined, w) {
					t.Errorf("got:\n%s\nwant a line with %q", joined, w)
				}
			}
		})
	}
}

func checkLines(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		if want != nil {
			t.Fatalf("Load = nil; want errors with %q", want)
		}
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got:\n%v\nwant a line with %q", err, w)
		}
	}
}

// TestLoad_FolderGates: scan, pgp and pgp_require_signature on a group's
// folder and on a user's home reach the resolved tree.
func TestLoad_FolderGates(t *testing.T) {
	keys := newPGPKeyFiles(t)
	t.Chdir(t.TempDir())
	writeFiles(t, ".", map[string]string{
		"config.toml": "[scan]\nclamd = \"unix:/run/clamav/clamd.ctl\"\n[pgp]\nprivate_key_file = \"gw.asc\"\n[s3]\nbucket = \"b\"\n" +
			"[[groups]]\nname = \"partners\"\n" +
			"[[groups.folders]]\npath = \"/inbound\"\nprefix = \"in/{user}/\"\nscan = true\npgp = \"decrypt\"\npgp_require_signature = true\n" +
			"[[groups.folders]]\npath = \"/outbound\"\nprefix = \"out/{user}/\"\npgp = \"encrypt\"\n" +
			validUser + "groups = [\"partners\"]\nscan = true\npgp_public_keys_file = \"acme.asc\"\n",
		"gw.asc":   keys.gatewaySecret,
		"acme.asc": keys.partnerPublic,
	})
	os.Chmod("gw.asc", 0o600)
	cfg, err := Load("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]auth.Gates{}
	for _, m := range cfg.Users[0].Tree {
		got[m.Path] = m.Gates
	}
	want := map[string]auth.Gates{
		"/":         {Scan: true},
		"/inbound":  {Scan: true, PGP: auth.PGPDecrypt, RequireSignature: true},
		"/outbound": {PGP: auth.PGPEncrypt},
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("gates of %s = %+v; want %+v", p, got[p], w)
		}
	}
}

// TestLoad_FolderGatesErrors: a gate without what it needs ([scan],
// [pgp], the partner's keys) or with a bad value is reported at the key
// that sets it.
func TestLoad_FolderGatesErrors(t *testing.T) {
	keys := newPGPKeyFiles(t)
	home := "[s3]\nbucket = \"b\"\n" + validUser
	group := "[s3]\nbucket = \"b\"\n[[groups]]\nname = \"g\"\n[[groups.folders]]\npath = \"/in\"\nprefix = \"in/{user}/\"\n"
	pgpKey := "[pgp]\nprivate_key_file = \"gw.asc\"\n"
	files := map[string]string{"gw.asc": keys.gatewaySecret}
	for _, tc := range []struct{ name, config, want string }{
		{"scan-without-clamd", home + "scan = true\n", `config.toml:7:1: users[0].scan: needs a malware scanner: set [scan] clamd`},
		{"pgp-without-private-key", home + "pgp = \"decrypt\"\n", `config.toml:7:1: users[0].pgp: needs the gateway's own key: set [pgp] private_key_file`},
		{"pgp-bad-value", pgpKey + home + "pgp = \"both\"\n", `config.toml:9:1: users[0].pgp: must be "decrypt" or "encrypt", not "both"`},
		{"encrypt-without-partner-keys", pgpKey + home + "pgp = \"encrypt\"\n", `config.toml:9:1: users[0].pgp: "encrypt" needs the partner's keys: set pgp_public_keys_file on the user`},
		{"signature-without-partner-keys", pgpKey + home + "pgp = \"decrypt\"\npgp_require_signature = true\n", `config.toml:9:1: users[0].pgp: "decrypt" needs the partner's keys: set pgp_public_keys_file on the user`},
		{"signature-without-decrypt", home + "pgp_require_signature = true\n", `config.toml:7:1: users[0].pgp_require_signature: applies only with pgp = "decrypt"`},
		{"group-scan-without-clamd", group + "scan = true\n" + validUser + "groups = [\"g\"]\n", `config.toml:8:1: groups[0].folders[0].scan: needs a malware scanner: set [scan] clamd`},
		{"group-encrypt-without-partner-keys", pgpKey + group + "pgp = \"encrypt\"\n" + validUser + "groups = [\"g\"]\n",
			`config.toml:10:1: groups[0].folders[0].pgp: "encrypt" needs the partner's keys (user "alice"): set pgp_public_keys_file on the user`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			writeFiles(t, ".", files)
			os.Chmod("gw.asc", 0o600)
			writeFiles(t, ".", map[string]string{"config.toml": tc.config})
			_, err := Load("config.toml")
			checkLines(t, err, []string{tc.want})
			if err != nil && strings.Count(err.Error(), tc.want) != 1 {
				t.Errorf("got:\n%v\nwant %q once", err, tc.want)
			}
		})
	}
}
