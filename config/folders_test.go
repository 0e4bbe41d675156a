package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/auth"
)

// TestLoad_FolderTrees: the partner template applied to several users, one
// with a home (a folder at its own path inside it shadows it), one replacing
// a group folder with its own, two sharing the hospital's outbound prefix.
func TestLoad_FolderTrees(t *testing.T) {
	config := folderGroup + `[[groups.folders]]
path = "/shared/outbound"
prefix = "hospital/outbound/"
bucket = "phi-out"
` + partner("acme", `groups = ["partners"]`) +
		partner("beta", `groups = ["partners"]`+"\nhome = \"partners/beta/\"\npermissions = [\"list\", \"read\"]\n[[users.folders]]\npath = \"/outbound\"\nprefix = \"partners/beta/outbound/\"\n") +
		partner("gamma", `groups = ["partners"]`+"\n[[users.folders]]\npath = \"/inbound\"\nprefix = \"inbound/gamma-drop/\"\nbucket = \"phi-in\"\npermissions = [\"write\", \"overwrite\"]\n")
	t.Chdir(t.TempDir())
	writeFiles(t, ".", map[string]string{"config.toml": config})
	cfg, err := Load("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	lrd := auth.PermList | auth.PermRead | auth.PermDelete
	shared := Mount{Path: "/shared/outbound", Bucket: "phi-out", Prefix: "hospital/outbound/", Perms: auth.AllPerms, Key: "groups[0].folders[2]"}
	want := map[string][]Mount{
		"acme": {
			{Path: "/inbound", Bucket: "b", Prefix: "inbound/acme/", Perms: auth.PermWrite, Key: "groups[0].folders[0]"},
			{Path: "/outbound", Bucket: "b", Prefix: "outbound/acme/", Perms: lrd, Key: "groups[0].folders[1]"},
			shared,
		},
		"beta": {
			{Path: "/", Bucket: "b", Prefix: "partners/beta/", Perms: auth.PermList | auth.PermRead, Key: "users[1]"},
			{Path: "/inbound", Bucket: "b", Prefix: "inbound/beta/", Perms: auth.PermWrite, Key: "groups[0].folders[0]"},
			{Path: "/shared/outbound", Bucket: "phi-out", Prefix: "hospital/outbound/", Perms: auth.PermList | auth.PermRead, Key: "groups[0].folders[2]"},
			{Path: "/outbound", Bucket: "b", Prefix: "partners/beta/outbound/", Perms: auth.PermList | auth.PermRead, Key: "users[1].folders[0]"},
		},
		"gamma": {
			{Path: "/outbound", Bucket: "b", Prefix: "outbound/gamma/", Perms: lrd, Key: "groups[0].folders[1]"},
			shared,
			{Path: "/inbound", Bucket: "phi-in", Prefix: "inbound/gamma-drop/", Perms: auth.PermWrite | auth.PermOverwrite, Key: "users[2].folders[0]"},
		},
	}
	for _, u := range cfg.Users {
		if diff := cmp.Diff(want[u.Name], u.Tree); diff != "" {
			t.Errorf("tree of %s mismatch (-want +got):\n%s", u.Name, diff)
		}
	}
}

// TestLoad_FolderBucketsWithoutDefault: when every folder names its bucket,
// a user without a home needs no [s3] bucket.
func TestLoad_FolderBucketsWithoutDefault(t *testing.T) {
	config := "[[groups]]\nname = \"partners\"\n[[groups.folders]]\npath = \"/inbound\"\nprefix = \"{user}/\"\nbucket = \"phi-in\"\n" +
		partner("acme", `groups = ["partners"]`+"\n[[users.folders]]\npath = \"/outbound\"\nprefix = \"acme/\"\nbucket = \"phi-out\"\n")
	t.Chdir(t.TempDir())
	writeFiles(t, ".", map[string]string{"config.toml": config})
	if _, err := Load("config.toml"); err != nil {
		t.Errorf("got %v; want no error", err)
	}
	writeFiles(t, ".", map[string]string{"config.toml": strings.Replace(config, "bucket = \"phi-out\"\n", "", 1)})
	if _, err := Load("config.toml"); err == nil || !strings.Contains(err.Error(), `missing required key "s3.bucket"`) {
		t.Errorf("got %v; want s3.bucket required for the folder without a bucket", err)
	}
}
