package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"reflect"
	"testing"

	"golang.org/x/crypto/ssh"
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

func TestLookup(t *testing.T) {
	alice, staff, bob, stranger := newKey(t), newKey(t), newKey(t), newKey(t)
	users, err := NewUsers([]User{
		{Name: "alice", Bucket: "b", Home: "partners/acme/", Perms: AllPerms, Keys: []ssh.PublicKey{alice, staff}},
		{Name: "bob", Bucket: "b2", Home: "partners/bob/", Perms: PermWrite, Keys: []ssh.PublicKey{bob}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		user string
		key  ssh.PublicKey
		want *Tenant
	}{
		{"first-key", "alice", alice, &Tenant{User: "alice", Bucket: "b", Prefix: "partners/acme/", Perms: AllPerms, Methods: MethodPublicKey}},
		{"second-key", "alice", staff, &Tenant{User: "alice", Bucket: "b", Prefix: "partners/acme/", Perms: AllPerms, Methods: MethodPublicKey}},
		{"other-user", "bob", bob, &Tenant{User: "bob", Bucket: "b2", Prefix: "partners/bob/", Perms: PermWrite, Methods: MethodPublicKey}},
		{"someone-elses-key", "alice", bob, nil},
		{"unknown-key", "alice", stranger, nil},
		{"unknown-user", "mallory", alice, nil},
		{"empty-user", "", alice, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := users.Lookup(tt.user, tt.key)
			if tt.want == nil {
				if !errors.Is(err, ErrDenied) || got != nil {
					t.Fatalf("Lookup = %v, %v; want nil, ErrDenied", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Lookup = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestNewUsers_Rejects(t *testing.T) {
	k := newKey(t)
	for name, us := range map[string][]User{
		"duplicate":      {{Name: "a", Bucket: "b", Home: "a/", Keys: []ssh.PublicKey{k}}, {Name: "a", Bucket: "b", Home: "c/"}},
		"home-no-slash":  {{Name: "a", Bucket: "b", Home: "a"}},
		"missing-bucket": {{Name: "a", Home: "a/"}},
	} {
		if _, err := NewUsers(us); err == nil {
			t.Errorf("%s: NewUsers succeeded; want an error", name)
		}
	}
}

func TestParsePerms(t *testing.T) {
	if p, err := ParsePerms(nil); err != nil || p != AllPerms {
		t.Errorf("ParsePerms(nil) = %v, %v; want all", p, err)
	}
	p, err := ParsePerms([]string{"write", "mkdir"})
	if err != nil || !p.Has(PermWrite|PermMkdir) || p.Has(PermList) || p.Has(PermRead) {
		t.Errorf("ParsePerms(write,mkdir) = %v, %v", p, err)
	}
	if got := p.String(); got != "write,mkdir" {
		t.Errorf("String() = %q; want write,mkdir", got)
	}
	if _, err := ParsePerms([]string{"readble"}); err == nil {
		t.Errorf("ParsePerms(readble) succeeded; want an error")
	}
}
