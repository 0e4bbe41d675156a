package vfs

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/vfs/vfstest"
)

// partnerFolders is the layout of the folders issue, with a nested path.
func partnerFolders() []Folder {
	return []Folder{
		{Path: "/outbound", Mount: Mount{Bucket: "phi", Prefix: "outbound/acme/", Perms: auth.PermList | auth.PermRead | auth.PermDelete}},
		{Path: "/inbound", Mount: Mount{Bucket: "phi-inbound", Prefix: "inbound/acme/", Perms: auth.PermWrite | auth.PermMkdir}},
		{Path: "/reports/monthly", Mount: Mount{Bucket: "phi", Prefix: "reports/acme/", Perms: auth.PermList | auth.PermRead}},
	}
}

func partnerTable(t testing.TB, home bool) *Table {
	t.Helper()
	var h *Mount
	if home {
		h = &Mount{Bucket: "phi", Prefix: testPrefix, Perms: auth.AllPerms}
	}
	tb, err := NewTable(h, partnerFolders())
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestTable_Resolve(t *testing.T) {
	tests := []struct {
		home            bool
		path            string
		folder, key     string // folder "" when no mount serves it
		virtual, exists bool
	}{
		{false, "/", "", "", true, true},
		{false, "", "", "", true, true},
		{false, "/inbound", "/inbound", "inbound/acme/", false, true},
		{false, "/inbound/", "/inbound", "inbound/acme/", false, true},
		{false, "/inbound/a.csv", "/inbound", "inbound/acme/a.csv", false, true},
		{false, "inbound/sub/b.csv", "/inbound", "inbound/acme/sub/b.csv", false, true},
		{false, "/inbound/../outbound/c", "/outbound", "outbound/acme/c", false, true},
		{false, "/inbound/../../../x", "", "", false, false},
		{false, "/inboundx", "", "", false, false},
		{false, "/x.csv", "", "", false, false},
		{false, "/reports", "", "", true, true},
		{false, "/reports/other", "", "", false, false},
		{false, "/reports/monthly/2026-11.csv", "/reports/monthly", "reports/acme/2026-11.csv", false, true},
		{true, "/", "/", testPrefix, true, true},
		{true, "/a.csv", "/", testPrefix + "a.csv", false, true},
		{true, "/inbound/a.csv", "/inbound", "inbound/acme/a.csv", false, true},
		{true, "/reports", "/", testPrefix + "reports", true, true},
		{true, "/reports/other", "/", testPrefix + "reports/other", false, true},
		{true, "/inboundx/y", "/", testPrefix + "inboundx/y", false, true},
	}
	for _, tt := range tests {
		pl, err := partnerTable(t, tt.home).Resolve(tt.path)
		if err != nil {
			t.Errorf("home=%v Resolve(%q): %v", tt.home, tt.path, err)
			continue
		}
		if pl.Folder != tt.folder || pl.Key != tt.key || pl.Virtual != tt.virtual || pl.Exists() != tt.exists || (pl.Mount == nil) != (tt.folder == "") {
			t.Errorf("home=%v Resolve(%q) = folder %q key %q virtual %v exists %v; want %q %q %v %v",
				tt.home, tt.path, pl.Folder, pl.Key, pl.Virtual, pl.Exists(), tt.folder, tt.key, tt.virtual, tt.exists)
		}
	}
	if _, err := partnerTable(t, false).Resolve("/inbound/a\\b"); err == nil {
		t.Errorf("a backslash in a folder was accepted")
	}
}

func TestTable_Entries(t *testing.T) {
	for _, home := range []bool{false, true} {
		tb := partnerTable(t, home)
		for dir, want := range map[string][]string{
			"/": {"inbound", "outbound", "reports"}, "/reports": {"monthly"}, "/reports/": {"monthly"},
			"/inbound": nil, "/x": nil, "/reports/monthly": nil,
		} {
			if got := tb.Entries(dir); !slices.Equal(got, want) {
				t.Errorf("home=%v Entries(%q) = %q; want %q", home, dir, got, want)
			}
		}
		if !tb.Shadows("/", "inbound") || tb.Shadows("/", "a.csv") || !tb.Shadows("/reports", "monthly") {
			t.Errorf("home=%v: Shadows does not follow Entries", home)
		}
	}
}

func TestTable_Refuse(t *testing.T) {
	tests := []struct {
		home bool
		op   string
		need auth.Perms
		path string
		want string // "" for no refusal
	}{
		{false, "upload", auth.PermWrite, "/x.csv", "upload refused: / is not a folder; use /inbound"},
		{false, "upload", auth.PermWrite, "/nowhere/x.csv", "upload refused: / is not a folder; use /inbound"},
		{false, "mkdir", auth.PermMkdir, "/new", "mkdir refused: / is not a folder; use /inbound"},
		{false, "upload", auth.PermWrite, "/reports/x.csv", "upload refused: /reports is not a folder"},
		{false, "upload", auth.PermRead, "/reports/x.csv", "upload refused: /reports is not a folder; use /reports/monthly"},
		{false, "remove", auth.PermDelete, "/reports", "remove refused: /reports is not a folder"},
		{false, "rename", auth.PermRename, "/inbound", "rename refused: /inbound is a folder of your account and cannot be changed"},
		{false, "upload", auth.PermWrite, "/inbound/x.csv", ""},
		{true, "upload", auth.PermWrite, "/x.csv", ""},
		{true, "remove", auth.PermDelete, "/reports", "remove refused: /reports holds folders of your account and cannot be changed"},
		{true, "remove", auth.PermDelete, "/outbound", "remove refused: /outbound is a folder of your account and cannot be changed"},
		{true, "upload", auth.PermWrite, "/reports/x.csv", ""},
	}
	for _, tt := range tests {
		tb := partnerTable(t, tt.home)
		pl, err := tb.Resolve(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		err = tb.Refuse(tt.op, tt.need, pl)
		var te *TreeError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("home=%v %s %s refused: %v; want allowed", tt.home, tt.op, tt.path, err)
		case tt.want != "" && (!errors.As(err, &te) || err.Error() != tt.want):
			t.Errorf("home=%v %s %s: got %v; want %q", tt.home, tt.op, tt.path, err, tt.want)
		}
	}
}

func TestNewTable_Rejects(t *testing.T) {
	m := Mount{Bucket: "b", Prefix: "p/"}
	for name, fs := range map[string][]Folder{
		"root":     {{Path: "/", Mount: m}},
		"relative": {{Path: "in", Mount: m}},
		"unclean":  {{Path: "/in/../x", Mount: m}},
		"trailing": {{Path: "/in/", Mount: m}},
		"nested":   {{Path: "/in", Mount: m}, {Path: "/in/x", Mount: m}},
		"twice":    {{Path: "/in", Mount: m}, {Path: "/in", Mount: m}},
		"prefix":   {{Path: "/in", Mount: Mount{Bucket: "b", Prefix: "p"}}},
		"none":     nil,
	} {
		if _, err := NewTable(nil, fs); err == nil {
			t.Errorf("%s: NewTable accepted %+v", name, fs)
		}
	}
}

// checkPlace holds what no path may break: a key lies under its mount's
// prefix and is clean, the folder serving a path is the one whose path it is
// under (so a folder's objects are never reached through the home), and a
// path under no folder of a table without a home reaches no key at all.
func checkPlace(t *testing.T, tb *Table, p string, pl Place) {
	t.Helper()
	if pl.Mount == nil {
		if pl.Key != "" || pl.Folder != "" {
			t.Errorf("Resolve(%q) has key %q in folder %q but no mount", p, pl.Key, pl.Folder)
		}
		if tb.Home() != nil {
			t.Errorf("Resolve(%q) reached no mount though the table has a home", p)
		}
		return
	}
	var under string
	for _, f := range tb.Folders() {
		if pl.Path == f.Path || strings.HasPrefix(pl.Path, f.Path+"/") {
			under = f.Path
		}
	}
	switch {
	case under == "" && (pl.Folder != "/" || pl.Mount != tb.Home()):
		t.Errorf("Resolve(%q) = folder %q; want the home", p, pl.Folder)
	case under != "" && pl.Folder != under:
		t.Errorf("Resolve(%q) = folder %q; want %q, which the path is under", p, pl.Folder, under)
	}
	checkKeyIn(t, p, pl.Key, pl.Mount.Prefix)
}

func checkKeyIn(t *testing.T, p, key, prefix string) {
	t.Helper()
	switch {
	case !strings.HasPrefix(key, prefix):
		t.Errorf("key(%q) = %q; escapes the prefix %q", p, key, prefix)
	case len(key) > MaxKeyLen:
		t.Errorf("key(%q) has %d bytes; want ≤ %d", p, len(key), MaxKeyLen)
	case strings.Contains(key, "//") || strings.Contains(key[len(prefix):], "../") || strings.HasSuffix(key, "/..") || strings.Contains(key, "/./") || strings.ContainsAny(key, "\x00\\\n\r"):
		t.Errorf("key(%q) = %q; not clean", p, key)
	}
}

// FuzzTable is FuzzJail for the mount table: whatever the path, it leads
// into the folder (or the home) it is under, never above a prefix.
func FuzzTable(f *testing.F) {
	for _, p := range vfstest.HostilePaths() {
		f.Add(p)
		f.Add("/inbound/" + p)
		f.Add("/reports/monthly/" + p)
	}
	tables := []*Table{partnerTable(f, false), partnerTable(f, true)}
	f.Fuzz(func(t *testing.T, p string) {
		for _, tb := range tables {
			if pl, err := tb.Resolve(p); err == nil {
				checkPlace(t, tb, p, pl)
			}
		}
	})
}

func TestTable_HostilePathsStayInside(t *testing.T) {
	for _, tb := range []*Table{partnerTable(t, false), partnerTable(t, true)} {
		for _, p := range vfstest.HostilePaths() {
			for _, q := range []string{p, "/inbound/" + p, "/reports/monthly/" + p, "/reports/" + p} {
				if pl, err := tb.Resolve(q); err == nil {
					checkPlace(t, tb, q, pl)
				}
			}
		}
	}
}

func TestTable_Move(t *testing.T) {
	tests := []struct {
		home     bool
		from, to string
		cross    bool
		want     string // the refusal, "" for none
	}{
		{false, "/inbound/a.filepart", "/inbound/a", false, ""},
		{false, "/outbound/a", "/outbound/sub/a", false, ""},
		{false, "/inbound/a", "/outbound/a", false, "rename refused: moving a file from /inbound to /outbound needs read and rename in /inbound, and write in /outbound"},
		{false, "/outbound/a", "/inbound/a", false, "rename refused: moving a file from /outbound to /inbound needs rename in /outbound"},
		{false, "/outbound/a", "/a", false, "rename refused: / is not a folder; use /inbound"},
		{false, "/outbound", "/out", false, "rename refused: /outbound is a folder of your account and cannot be changed"},
		{true, "/a", "/inbound/a", true, ""},
		{true, "/inbound/a", "/a", false, "rename refused: moving a file from /inbound to / needs read and rename in /inbound"},
		{true, "/reports", "/r", false, "rename refused: /reports holds folders of your account and cannot be changed"},
		{true, "/a", "/reports/monthly/a", false, "rename refused: moving a file from / to /reports/monthly needs write in /reports/monthly"},
	}
	for _, tt := range tests {
		tb := partnerTable(t, tt.home)
		from, err := tb.Resolve(tt.from)
		if err != nil {
			t.Fatal(err)
		}
		to, err := tb.Resolve(tt.to)
		if err != nil {
			t.Fatal(err)
		}
		cross, err := tb.Move(from, to)
		switch {
		case tt.want == "" && (err != nil || cross != tt.cross):
			t.Errorf("home=%v Move(%s, %s) = %v, %v; want %v, nil", tt.home, tt.from, tt.to, cross, err, tt.cross)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("home=%v Move(%s, %s) = %v; want %q", tt.home, tt.from, tt.to, err, tt.want)
		}
	}
}

// TestTableOf: a tenant's home and folders become the mounts, each with
// the name cipher of its own bucket and prefix.
func TestTableOf(t *testing.T) {
	tenant := &auth.Tenant{User: "acme", Bucket: "phi", Prefix: testPrefix, Perms: auth.PermList, Gates: auth.Gates{PGP: auth.PGPEncrypt}, Folders: []auth.Folder{
		{Path: "/inbound", Bucket: "phi-inbound", Prefix: "inbound/acme/", Perms: auth.PermWrite, Gates: auth.Gates{Scan: true}},
	}}
	var asked []string
	tb, err := TableOf(tenant, func(bucket, prefix string) *objfmt.Names { asked = append(asked, bucket+"/"+prefix); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"phi/" + testPrefix, "phi-inbound/inbound/acme/"}; !slices.Equal(asked, want) {
		t.Errorf("name ciphers asked for %q; want %q", asked, want)
	}
	pl, err := tb.Resolve("/inbound/x")
	if err != nil || pl.Mount.Bucket != "phi-inbound" || pl.Key != "inbound/acme/x" || pl.Mount.Perms != auth.PermWrite || !pl.Mount.Gates.Scan {
		t.Errorf("Resolve(/inbound/x) = %+v, %v; want the folder's mount", pl, err)
	}
	if h := tb.Home(); h == nil || h.Prefix != testPrefix || h.Perms != auth.PermList || h.Gates.PGP != auth.PGPEncrypt {
		t.Errorf("Home() = %+v; want the tenant's home", h)
	}
	if _, err := TableOf(&auth.Tenant{User: "x", Bucket: "phi"}, func(string, string) *objfmt.Names { return nil }); err == nil {
		t.Errorf("a tenant with neither home nor folders got a namespace")
	}
}
