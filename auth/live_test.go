package auth

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
)

func TestLive_SwapAndDiff(t *testing.T) {
	a1, a2, b, c := newKey(t), newKey(t), newKey(t), newKey(t)
	old, err := NewUsers([]User{
		{Name: "alice", Bucket: "b", Home: "alice/", Perms: AllPerms, Keys: []ssh.PublicKey{a1, a2}},
		{Name: "bob", Bucket: "b", Home: "bob/", Perms: PermWrite, Keys: []ssh.PublicKey{b}},
		{Name: "carol", Bucket: "b", Home: "carol/", Perms: AllPerms, Keys: []ssh.PublicKey{c}},
	})
	if err != nil {
		t.Fatal(err)
	}
	new, err := NewUsers([]User{
		{Name: "alice", Bucket: "b", Home: "alice/", Perms: AllPerms, Keys: []ssh.PublicKey{a1}},
		{Name: "bob", Bucket: "b2", Home: "bob/", Perms: PermWrite | PermList, Keys: []ssh.PublicKey{b, c}},
		{Name: "dave", Bucket: "b", Home: "dave/", Perms: AllPerms, Keys: []ssh.PublicKey{a2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive(old)
	if _, err := live.Lookup("alice", a2); err != nil {
		t.Fatalf("alice's second key before the swap: %v", err)
	}
	if got := live.Swap(new); got != old {
		t.Errorf("Swap returned another map than the one in force")
	}
	if _, err := live.Lookup("alice", a2); err == nil {
		t.Errorf("a key removed by the swap still logs in")
	}
	if _, err := live.Lookup("carol", c); err == nil {
		t.Errorf("a user removed by the swap still logs in")
	}
	want := []string{
		"user carol removed",
		"user alice: key " + Fingerprint(a2) + " removed",
		"user bob: home changed from b/bob/ to b2/bob/",
		"user bob: permissions changed from [write] to [list,write]",
		"user bob: key " + Fingerprint(c) + " added",
		"user dave added with 1 key(s)",
	}
	if diff := cmp.Diff(want, Diff(old, new)); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if got := Diff(new, new); len(got) != 0 {
		t.Errorf("Diff of a map with itself = %v; want nothing", got)
	}
}

func TestDiff_Role(t *testing.T) {
	k := newKey(t)
	users := func(role, ext string) *Users {
		u, err := NewUsers([]User{{Name: "acme", Bucket: "b", Home: "acme/", Perms: AllPerms, Keys: []ssh.PublicKey{k},
			RoleARN: role, ExternalID: ext}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	const r1, r2 = "arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"
	if diff := cmp.Diff([]string{`user acme: role changed from "" to "` + r1 + `"`}, Diff(users("", ""), users(r1, ""))); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if got := Diff(users(r1, "x1"), users(r1, "x2")); len(got) != 1 || strings.Contains(got[0], "x2") {
		t.Errorf("Diff of a changed external id = %q; want one line not naming it", got)
	}
	live := NewLive(users(r1, ""))
	if tn, err := live.Lookup("acme", k); err != nil || tn.RoleARN != r1 {
		t.Errorf("Lookup = %+v, %v; want the tenant with role %s", tn, err, r1)
	}
	live.Swap(users(r2, ""))
	if tn, _ := live.Lookup("acme", k); tn == nil || tn.RoleARN != r2 {
		t.Errorf("after the swap, Lookup = %+v; want role %s", tn, r2)
	}
}

// TestDiff_Limits: the reload record says when a user's limits changed, and
// the tenant carries them.
func TestDiff_Limits(t *testing.T) {
	k := newKey(t)
	users := func(l Limits) *Users {
		u, err := NewUsers([]User{{Name: "acme", Bucket: "b", Home: "acme/", Perms: AllPerms, Keys: []ssh.PublicKey{k}, Limits: l}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	capped := Limits{MaxDownloadBytesPerSec: 8e6, ReadAheadMemory: 32 << 20}
	want := []string{"user acme: limits changed to {MaxUploadBytesPerSec:0 MaxDownloadBytesPerSec:8000000 ReadAheadMemory:33554432 UploadMemory:0 MaxOpenFiles:0} (new sessions)"}
	if diff := cmp.Diff(want, Diff(users(Limits{}), users(capped))); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if tn, err := users(capped).Lookup("acme", k); err != nil || tn.Limits != capped {
		t.Errorf("Lookup = %+v, %v; want the tenant with limits %+v", tn, err, capped)
	}
}
