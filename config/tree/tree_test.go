package tree

import (
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
)

func owner(i int, name string, ms ...Mount) Owner { return Owner{Index: i, Name: name, Mounts: ms} }

func folder(path, bucket, prefix, key string) Mount {
	return Mount{Path: path, Bucket: bucket, Prefix: prefix, Perms: auth.PermRead, Key: key}
}

// TestOverlaps: a prefix inside another user's place is refused in the
// same bucket and through access points, but not in another plain bucket,
// and the same prefix (a shared folder) is fine.
func TestOverlaps(t *testing.T) {
	ap := "arn:aws:s3:us-east-1:123456789012:accesspoint/out"
	tests := []struct {
		name   string
		owners []Owner
		want   []string // substrings, one per problem
	}{
		{"shared-folder", []Owner{
			owner(0, "acme", folder("/outbound", "phi", "hospital/out/", "groups[0].folders[0]")),
			owner(1, "acme-staff", folder("/outbound", "phi", "hospital/out/", "groups[0].folders[0]")),
		}, nil},
		{"other-plain-bucket", []Owner{
			owner(0, "acme", folder("/in", "phi-a", "in/x/", "users[0].folders[0]")),
			owner(1, "ops", Mount{Path: "/", Bucket: "phi-b", Prefix: "in/", Key: "users[1]"}),
		}, nil},
		{"inside-other-folder", []Owner{
			owner(0, "acme", folder("/in", "phi", "in/", "users[0].folders[0]")),
			owner(1, "ops", folder("/in", "phi", "in/acme/", "users[1].folders[0]")),
		}, []string{`users[1].folders[0].prefix: "in/acme/" is inside the folder /in of users[0] "acme" ("in/") in the same bucket`}},
		{"through-access-point", []Owner{
			owner(0, "acme", folder("/out", ap, "out/acme/", "groups[0].folders[0]")),
			owner(1, "ops", Mount{Path: "/", Bucket: "phi", Prefix: "out/", Key: "users[1]"}),
		}, []string{`(the folder /out of users[0] "acme") is inside the home of users[1] "ops" ("out/"), and access point`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := Overlaps(tt.owners)
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems %v; want %d", len(ps), ps, len(tt.want))
			}
			for i, p := range ps {
				if got := p.Key + ": " + p.Msg; !strings.Contains(got, tt.want[i]) {
					t.Errorf("got %q; want it to hold %q", got, tt.want[i])
				}
			}
		})
	}
}

// TestResolve_OwnFolderReplacesGroups: a user's own folder at a group
// folder's path replaces it, without a clash; a group listed twice is one.
func TestResolve_OwnFolderReplacesGroups(t *testing.T) {
	groups := []Group{{Name: "partners", Folders: []Folder{
		{Path: "/inbound", Prefix: "inbound/{user}/", Permissions: []string{"write"}},
		{Path: "/outbound", Prefix: "outbound/{user}/"},
	}}}
	u := User{Key: "users[0]", Name: "acme", Bucket: "phi", Perms: auth.PermList | auth.PermRead, Groups: []string{"partners", "partners"},
		Folders: []Folder{{Path: "/inbound", Prefix: "drop/acme/", Bucket: "phi-in"}}}
	ms, ps := Resolve(u, groups)
	if len(ps) != 1 || ps[0].Key != "users[0].groups[1]" || !strings.Contains(ps[0].Msg, "listed twice") {
		t.Errorf("problems = %v; want the second listing of the group", ps)
	}
	want := []Mount{
		{Path: "/outbound", Bucket: "phi", Prefix: "outbound/acme/", Perms: auth.PermList | auth.PermRead, Key: "groups[0].folders[1]"},
		{Path: "/inbound", Bucket: "phi-in", Prefix: "drop/acme/", Perms: auth.PermList | auth.PermRead, Key: "users[0].folders[0]"},
	}
	if len(ms) != len(want) {
		t.Fatalf("tree = %+v; want %+v", ms, want)
	}
	for i := range ms {
		if ms[i] != want[i] {
			t.Errorf("tree[%d] = %+v; want %+v", i, ms[i], want[i])
		}
	}
}
