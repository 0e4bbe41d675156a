package inventory

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
)

func newKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// record is one trail line as the audit package writes it.
func record(at time.Time, fields string) string {
	return fmt.Sprintf(`{"time":"%s","seq":1,%s,"prev":"00"}`, at.UTC().Format("2006-01-02T15:04:05.000Z"), fields)
}

// fixture is a user map of four keys and a trail in which two of them log
// in, one by key and password.
type fixture struct {
	used, both, stale, idle ssh.PublicKey
	logins                  []Login
	trail                   string
}

func newFixture(t *testing.T) fixture {
	f := fixture{used: newKey(t), both: newKey(t), stale: newKey(t), idle: newKey(t)}
	soon := now.Add(5 * 24 * time.Hour)
	f.logins = []Login{
		{User: auth.User{Name: "acme", Bucket: "phi", Home: "partners/acme/", Perms: auth.PermWrite | auth.PermList,
			Keys:       []ssh.PublicKey{f.used, f.stale, f.idle},
			KeyOptions: []auth.KeyOptions{{}, {From: []string{"10.0.0.0/8"}}, {Expiry: soon}},
			AllowFrom:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}},
			Comments: []string{"acme-laptop", "acme-old", ""}, Sources: []string{"c.toml:4", "c.toml:4", "keys:1"},
			Folders: []Folder{{Path: "/", Bucket: "phi", Prefix: "partners/acme/", Perms: auth.PermWrite | auth.PermList}}},
		{User: auth.User{Name: "bob", Bucket: "phi", Home: "bob/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{f.both},
			Methods: auth.MethodPublicKey | auth.MethodPassword, KeyOptions: []auth.KeyOptions{{Expiry: now.Add(-time.Hour)}}},
			Comments: []string{"bob"}, Groups: []string{"partners"},
			Folders: []Folder{{Path: "/", Bucket: "phi", Prefix: "bob/", Perms: auth.AllPerms}}},
	}
	fp := auth.Fingerprint
	lines := []string{
		record(now.Add(-100*24*time.Hour), `"session":"s0","event":"connect","result":"ok","remote":"10.1.1.1:4000"`),
		record(now.Add(-100*24*time.Hour), `"session":"s0","event":"auth","result":"ok","user":"acme","method":"publickey","key_type":"ssh-ed25519","key_fp":"`+fp(f.stale)+`"`),
		record(now.Add(-100*24*time.Hour), `"session":"s0","event":"disconnect","result":"ok","user":"acme"`),
		record(now.Add(-2*time.Hour), `"session":"s1","event":"connect","result":"ok","remote":"127.0.0.1:5000"`),
		record(now.Add(-2*time.Hour), `"session":"s1","event":"auth","result":"denied","reason":"unknown user or key","user":"acme","method":"publickey","key_fp":"`+fp(f.idle)+`"`),
		record(now.Add(-2*time.Hour), `"session":"s1","event":"auth","result":"ok","user":"acme","method":"publickey","key_type":"ssh-ed25519","key_fp":"`+fp(f.used)+`"`),
		record(now.Add(-2*time.Hour), `"session":"s1","event":"close","result":"ok","user":"acme","mode":"write","path":"/a","key_fp":"`+fp(f.idle)+`"`),
		record(now.Add(-2*time.Hour), `"session":"s1","event":"disconnect","result":"ok","user":"acme"`),
		record(now.Add(-3*time.Hour), `"session":"s2","event":"connect","result":"ok","remote":"127.0.0.1:6000"`),
		record(now.Add(-3*time.Hour), `"session":"s2","event":"auth","result":"ok","reason":"partial success: password required next","user":"bob","method":"publickey","key_fp":"`+fp(f.both)+`"`),
		record(now.Add(-3*time.Hour), `"session":"s2","event":"auth","result":"ok","user":"bob","method":"password"`),
		record(now.Add(-1*time.Hour), `"session":"s3","event":"connect","result":"ok","remote":"127.0.0.9:7000"`),
		record(now.Add(-1*time.Hour), `"session":"s3","event":"auth","result":"ok","user":"acme","method":"publickey","key_fp":"`+fp(newKey(t))+`","cert_id":"ops-cert"`),
	}
	f.trail = strings.Join(lines, "\n") + "\n"
	return f
}

func usageOf(t *testing.T, files ...string) *Usage {
	t.Helper()
	u := NewUsage()
	for i, text := range files {
		if err := u.Read(fmt.Sprintf("f%d", i), strings.NewReader(text)); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func TestBuild_LastLoginsAndFlags(t *testing.T) {
	f := newFixture(t)
	inv := Build(f.logins, []ssh.PublicKey{newKey(t)}, usageOf(t, f.trail), now)
	acme, bob := inv.Users[0], inv.Users[1]
	for _, tt := range []struct {
		name       string
		key        Key
		wantAt     time.Time // zero: no login
		wantRemote string
		wantFlags  []string
	}{
		{"used", acme.Keys[0], now.Add(-2 * time.Hour), "127.0.0.1:5000", []string{}},
		{"stale", acme.Keys[1], now.Add(-100 * 24 * time.Hour), "10.1.1.1:4000", []string{FlagUnused}},
		{"idle-expiring", acme.Keys[2], time.Time{}, "", []string{FlagExpiring, FlagNeverUsed}},
		{"key-and-password", bob.Keys[0], now.Add(-3 * time.Hour), "127.0.0.1:6000", []string{FlagExpired}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantAt.IsZero() {
				if tt.key.LastLogin != nil {
					t.Errorf("last login = %+v; want none", tt.key.LastLogin)
				}
			} else if tt.key.LastLogin == nil || !tt.key.LastLogin.Time.Equal(tt.wantAt) || tt.key.LastLogin.Remote != tt.wantRemote {
				t.Errorf("last login = %+v; want %v from %s", tt.key.LastLogin, tt.wantAt, tt.wantRemote)
			}
			if !slices.Equal(tt.key.Flags, tt.wantFlags) {
				t.Errorf("flags = %q; want %q", tt.key.Flags, tt.wantFlags)
			}
		})
	}
	if got := acme.LastLogin; got == nil || got.CertID != "ops-cert" || got.Remote != "127.0.0.9:7000" {
		t.Errorf("acme's last login = %+v; want the certificate login from 127.0.0.9", got)
	}
	if got, want := acme.AuthMethods, []string{"publickey", "certificate"}; !slices.Equal(got, want) {
		t.Errorf("acme's auth methods = %q; want %q", got, want)
	}
	if got, want := bob.AuthMethods, []string{"publickey", "certificate", "password"}; !slices.Equal(got, want) {
		t.Errorf("bob's auth methods = %q; want %q", got, want)
	}
	if got, want := acme.Folders[0].Permissions, []string{"list", "write"}; !slices.Equal(got, want) {
		t.Errorf("acme's folder permissions = %q; want %q", got, want)
	}
	if k := acme.Keys[1]; !slices.Equal(k.From, []string{"10.0.0.0/8"}) || k.Comment != "acme-old" || k.Bits != 256 || k.Type != "ssh-ed25519" {
		t.Errorf("acme's second key = %+v; want ssh-ed25519, 256 bits, acme-old, from 10.0.0.0/8", k)
	}
	if got := inv.Trail; got.Records != 13 || got.Skipped != 0 || !got.Last.Equal(now.Add(-time.Hour)) || !got.First.Equal(now.Add(-100*24*time.Hour)) {
		t.Errorf("trail summary = %+v; want 13 records from 100 days to 1 hour ago", got)
	}
}

// TestUsage_FilesInAnyOrder: the later login wins whichever file is read
// first, and a session's address comes from its own file.
func TestUsage_FilesInAnyOrder(t *testing.T) {
	f := newFixture(t)
	lines := strings.SplitAfter(f.trail, "\n")
	older, newer := strings.Join(lines[:3], ""), strings.Join(lines[3:], "")
	for _, order := range [][]string{{older, newer}, {newer, older}} {
		inv := Build(f.logins, nil, usageOf(t, order...), now)
		if got := inv.Users[0].LastLogin; got == nil || !got.Time.Equal(now.Add(-time.Hour)) {
			t.Errorf("acme's last login = %+v; want an hour ago", got)
		}
		if got := inv.Users[0].Keys[1].LastLogin; got == nil || got.Remote != "10.1.1.1:4000" {
			t.Errorf("stale key's last login = %+v; want from 10.1.1.1:4000", got)
		}
	}
}

// TestUsage_SkipsDamage: a torn line, a line past maxLine and a
// non-record are counted as skipped; the records around them still count.
func TestUsage_SkipsDamage(t *testing.T) {
	f := newFixture(t)
	damaged := "garbage\n" + `{"time":"2026-12-02T10:00:00.000Z","seq":9,"event":"auth","result":"ok","user":"acme","key_fp":` + "\n" +
		`{"event":"auth","user":"` + strings.Repeat("x", maxLine+10) + "\"}\n" + f.trail
	u := usageOf(t, damaged)
	if u.Trail.Skipped != 3 || u.Trail.Records != 13 {
		t.Errorf("records %d, skipped %d; want 13 and 3", u.Trail.Records, u.Trail.Skipped)
	}
	if inv := Build(f.logins, nil, u, now); inv.Users[0].Keys[0].LastLogin == nil {
		t.Errorf("the used key's login after the damage was not found")
	}
}

// TestWrite_RoundTrips: JSON decodes back to the inventory; CSV parses
// back with a header and one row per CA, key and keyless user.
func TestWrite_RoundTrips(t *testing.T) {
	f := newFixture(t)
	f.logins = append(f.logins, Login{User: auth.User{Name: "pw", Bucket: "phi", Home: "pw/", Methods: auth.MethodPassword}})
	inv := Build(f.logins, []ssh.PublicKey{newKey(t)}, usageOf(t, f.trail), now)
	t.Run("json", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, inv, FormatJSON); err != nil {
			t.Fatal(err)
		}
		var back Inventory
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(inv, &back, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Perms" }, cmp.Ignore())); diff != "" {
			t.Errorf("JSON round trip (-want +got):\n%s", diff)
		}
	})
	t.Run("csv", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, inv, FormatCSV); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1+1+4+1 {
			t.Fatalf("%d rows; want a header, 1 CA, 4 keys, 1 keyless user:\n%q", len(rows), rows)
		}
		col := func(row []string, name string) string { return row[slices.Index(csvHeader, name)] }
		if r := rows[4]; col(r, "user") != "acme" || col(r, "flags") != "expiring never_used" || col(r, "key_expiry") != "2026-12-07T12:00:00Z" {
			t.Errorf("acme's third key row = %q", r)
		}
		if r := rows[6]; col(r, "kind") != "user" || col(r, "auth_methods") != "password" || col(r, "key_fingerprint") != "" {
			t.Errorf("keyless user row = %q", r)
		}
	})
	t.Run("text", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, inv, FormatText); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"3 users, 4 keys (3 flagged), 1 trusted user CAs", "allow from: 10.0.0.0/8, 127.0.0.0/8",
			"/ -> phi/partners/acme/ [list,write]", "never (in the trail read)", "expiring never_used", `certificate "ops-cert"`,
			"auth:       publickey (a listed key or a certificate) + password", "from 127.0.0.1:6000 (publickey+password SHA256:"} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("text lacks %q:\n%s", want, buf.String())
			}
		}
	})
}
