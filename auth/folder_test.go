package auth

import (
	"reflect"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/pgp"
)

var partnerFolders = []Folder{
	{Path: "/inbound", Bucket: "phi-inbound", Prefix: "inbound/acme/", Perms: PermWrite | PermMkdir},
	{Path: "/outbound", Bucket: "phi", Prefix: "outbound/acme/", Perms: PermList | PermRead | PermDelete},
}

// TestTenant_SameReach: any change of what a session reaches (folders
// included) is a change; the limits alone are not.
func TestTenant_SameReach(t *testing.T) {
	base := Tenant{User: "acme", Bucket: "phi", Prefix: "partners/acme/", Perms: PermList, Folders: partnerFolders}
	changed := func(f func(*Tenant)) *Tenant {
		c := base
		c.Folders = slices.Clone(base.Folders)
		f(&c)
		return &c
	}
	same := map[string]*Tenant{
		"itself":       changed(func(*Tenant) {}),
		"limits-only":  changed(func(c *Tenant) { c.Limits.MaxOpenFiles = 3 }),
		"folders-copy": changed(func(c *Tenant) { c.Folders = slices.Clone(partnerFolders) }),
		"reordered":    changed(func(c *Tenant) { slices.Reverse(c.Folders) }),
	}
	for name, o := range same {
		if !base.SameReach(o) {
			t.Errorf("%s: SameReach = false; want true", name)
		}
	}
	differ := map[string]*Tenant{
		"folder-perms":  changed(func(c *Tenant) { c.Folders[1].Perms |= PermWrite }),
		"folder-prefix": changed(func(c *Tenant) { c.Folders[0].Prefix = "inbound/other/" }),
		"folder-bucket": changed(func(c *Tenant) { c.Folders[0].Bucket = "phi" }),
		"folder-path":   changed(func(c *Tenant) { c.Folders[0].Path = "/in" }),
		"folder-added":  changed(func(c *Tenant) { c.Folders = append(c.Folders, Folder{Path: "/x", Bucket: "b", Prefix: "x/"}) }),
		"folder-gone":   changed(func(c *Tenant) { c.Folders = c.Folders[:1] }),
		"home-gone":     changed(func(c *Tenant) { c.Prefix = "" }),
		"folder-gates":  changed(func(c *Tenant) { c.Folders[0].Gates.Scan = true }),
		"home-scan":     changed(func(c *Tenant) { c.Gates.Scan = true }),
		"home-pgp":      changed(func(c *Tenant) { c.Gates.PGP = PGPEncrypt }),
		"home-sig":      changed(func(c *Tenant) { c.Gates.RequireSignature = true }),
		"pgp-keys":      changed(func(c *Tenant) { c.PGPKeys = []*pgp.Key{nil} }),
	}
	// every other field of Tenant but Limits counts too
	tt := reflect.TypeFor[Tenant]()
	for i := range tt.NumField() {
		f := tt.Field(i)
		if f.Name == "Limits" || f.Name == "Folders" || f.Name == "Gates" || f.Name == "PGPKeys" {
			continue
		}
		differ["field-"+f.Name] = changed(func(c *Tenant) {
			v := reflect.ValueOf(c).Elem().Field(i)
			v = reflect.NewAt(v.Type(), v.Addr().UnsafePointer()).Elem() // unexported fields too
			switch v.Kind() {
			case reflect.String:
				v.SetString(v.String() + "x")
			case reflect.Bool:
				v.SetBool(!v.Bool())
			case reflect.Uint8:
				v.SetUint(v.Uint() ^ 1)
			default:
				t.Fatalf("Tenant.%s is a %s: teach SameReach and this test about it", f.Name, v.Kind())
			}
		})
	}
	for name, o := range differ {
		if base.SameReach(o) || o.SameReach(&base) {
			t.Errorf("%s: SameReach = true; want false", name)
		}
	}
}

// TestDiff_Folders: the reload's record names the user and folder whose
// permissions or place changed.
func TestDiff_Folders(t *testing.T) {
	k := newKey(t)
	users := func(f []Folder) *Users {
		u, err := NewUsers([]User{{Name: "acme", Bucket: "phi", Folders: f, Keys: []ssh.PublicKey{k}},
			{Name: "beta", Bucket: "phi", Home: "beta/", Keys: []ssh.PublicKey{k}}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	next := slices.Clone(partnerFolders)
	next[1].Perms = PermList | PermRead
	next = append(next[:1:1], next[1], Folder{Path: "/reports", Bucket: "phi", Prefix: "reports/acme/", Perms: PermRead})
	got := Diff(users(partnerFolders), users(next))
	want := []string{
		"user acme: folder /outbound permissions changed from [list,read,delete] to [list,read]",
		"user acme: folder /reports added at phi/reports/acme/ [read]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Diff = %q; want %q", got, want)
	}
}

func TestNewUsers_Folders(t *testing.T) {
	k := []ssh.PublicKey{newKey(t)}
	if _, err := NewUsers([]User{{Name: "acme", Bucket: "phi", Folders: partnerFolders, Keys: k}}); err != nil {
		t.Errorf("a user with folders and no home: %v", err)
	}
	for name, f := range map[string]Folder{
		"root":      {Path: "/", Bucket: "b", Prefix: "x/"},
		"no-bucket": {Path: "/x", Prefix: "x/"},
		"no-slash":  {Path: "/x", Bucket: "b", Prefix: "x"},
	} {
		if _, err := NewUsers([]User{{Name: "acme", Bucket: "phi", Folders: []Folder{f}, Keys: k}}); err == nil {
			t.Errorf("%s: NewUsers accepted folder %+v", name, f)
		}
	}
	if _, err := NewUsers([]User{{Name: "acme", Bucket: "phi", Keys: k}}); err == nil {
		t.Errorf("a user with neither home nor folders was accepted")
	}
}
