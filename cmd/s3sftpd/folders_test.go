package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const partnerKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE3p7Ifp4cM9vC1e0M6k6Z3dO8ZbmL1qT7mPPu5Yc8aR"

// partnersConfig is the layout of the folders issue applied to two
// partners, one with a home, and a hospital user with a plain home.
const partnersConfig = `[s3]
endpoint = "http://127.0.0.1:1"
bucket = "phi"

[[groups]]
name = "partners"
  [[groups.folders]]
  path = "/inbound"
  prefix = "inbound/{user}/"
  bucket = "phi-inbound"
  permissions = ["write", "mkdir"]
  [[groups.folders]]
  path = "/outbound"
  prefix = "outbound/{user}/"
  permissions = ["list", "read", "delete"]

[[users]]
name = "acme"
keys = ["` + partnerKey + ` acme"]
groups = ["partners"]

[[users]]
name = "beta"
home = "partners/beta/"
permissions = ["list", "read"]
keys = ["` + partnerKey + ` beta"]
groups = ["partners"]
  [[users.folders]]
  path = "/reports/monthly"
  prefix = "reports/beta/"
  bucket = "phi-reports"

[[users]]
name = "hospital"
home = "hospital/"
keys = ["` + partnerKey + ` hospital"]
`

// checkConfigOutput runs check-config with args on config (written as
// config.toml in a new directory, which becomes the working directory) and
// returns its exit code and its output without the memory line, which
// depends on the machine.
func checkConfigOutput(t *testing.T, toml string, args ...string) (int, string) {
	t.Helper()
	t.Chdir(t.TempDir())
	if err := os.WriteFile("config.toml", []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(append([]string{"check-config", "-config", "config.toml"}, args...), &out, &errOut)
	var lines []string
	for l := range strings.Lines(out.String() + errOut.String()) {
		if !strings.HasPrefix(l, "memory limit ") {
			lines = append(lines, l)
		}
	}
	return code, strings.Join(lines, "")
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output mismatch with %s (-want +got):\n%s", path, diff)
	}
}

// TestCheckConfig_Tree: -v shows what the group template produced for each
// user: path → bucket/prefix [permissions].
func TestCheckConfig_Tree(t *testing.T) {
	wd, _ := os.Getwd()
	code, out := checkConfigOutput(t, partnersConfig, "-v")
	if code != 0 {
		t.Fatalf("exit %d; want 0\n%s", code, out)
	}
	t.Chdir(wd)
	checkGolden(t, "check-config-tree.golden", out)
}

// TestCheckConfig_FolderMistakes: typos and overlaps in folders are refused
// with positions, every one in one run.
func TestCheckConfig_FolderMistakes(t *testing.T) {
	bad := strings.NewReplacer(
		`groups = ["partners"]`+"\n\n[[users]]\nname = \"beta\"", `groups = ["partner"]`+"\n\n[[users]]\nname = \"beta\"", // unknown group (acme's)
		`prefix = "outbound/{user}/"`, `prefix = "outbound/{login}/"`,
		`path = "/reports/monthly"`, `path = "/inbound/monthly"`,
		`home = "hospital/"`, `home = "inbound/"`+"\n"+`bucket = "phi-inbound"`,
	).Replace(partnersConfig)
	wd, _ := os.Getwd()
	code, out := checkConfigOutput(t, bad)
	if code != 1 {
		t.Fatalf("exit %d; want 1\n%s", code, out)
	}
	t.Chdir(wd)
	checkGolden(t, "check-config-folders.golden", out)
}

// TestFolders_ReachEveryPart: the user map, the doctor, the embedded store
// and the orphan sweep all see every folder's bucket and prefix.
func TestFolders_ReachEveryPart(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("config.toml", []byte(partnersConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := buckets(cfg), []string{"phi-inbound", "phi", "phi-reports"}; !slices.Equal(got, want) {
		t.Errorf("buckets = %q; want %q", got, want)
	}
	var targets []string
	for _, tg := range complianceTargets(cfg) {
		targets = append(targets, tg.Bucket+": "+strings.Join(tg.Homes, " "))
	}
	if want := []string{"phi-inbound: inbound/acme/ inbound/beta/", "phi: outbound/acme/ partners/beta/ outbound/beta/ hospital/", "phi-reports: reports/beta/"}; !slices.Equal(targets, want) {
		t.Errorf("doctor targets = %q; want %q", targets, want)
	}
	var sweep []string
	for _, p := range homes(cfg) {
		sweep = append(sweep, p.Bucket+"/"+p.Prefix)
	}
	if want := []string{"phi-inbound/inbound/acme/", "phi/outbound/acme/", "phi/partners/beta/", "phi-inbound/inbound/beta/", "phi/outbound/beta/", "phi-reports/reports/beta/", "phi/hospital/"}; !slices.Equal(sweep, want) {
		t.Errorf("orphan sweep prefixes = %q; want %q", sweep, want)
	}
	au, err := authUser(cfg, cfg.Users[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.Folder{
		{Path: "/inbound", Bucket: "phi-inbound", Prefix: "inbound/acme/", Perms: auth.PermWrite | auth.PermMkdir},
		{Path: "/outbound", Bucket: "phi", Prefix: "outbound/acme/", Perms: auth.PermList | auth.PermRead | auth.PermDelete},
	}
	if diff := cmp.Diff(want, au.Folders); diff != "" || au.Home != "" {
		t.Errorf("acme's user: home %q, folders mismatch (-want +got):\n%s", au.Home, diff)
	}
	if _, err := auth.NewUsers([]auth.User{au}); err != nil {
		t.Errorf("the user map refuses a user with folders only: %v", err)
	}
}

// TestCheckConfig_TreeShowsLifecycle: -v shows a folder's pickup,
// retention and not_picked_up_after after its permissions.
func TestCheckConfig_TreeShowsLifecycle(t *testing.T) {
	cfg := strings.Replace(partnersConfig, `permissions = ["list", "read", "delete"]`,
		`permissions = ["list", "read", "delete"]`+"\n  delete_after_download = true\n  retention = \"30d\"\n  not_picked_up_after = \"48h\"", 1)
	wd, _ := os.Getwd()
	code, out := checkConfigOutput(t, cfg, "-v")
	t.Chdir(wd)
	if want := "/outbound → phi/outbound/acme/ [list,read,delete] delete_after_download retention=720h0m0s not_picked_up_after=48h0m0s\n"; code != 0 || !strings.Contains(out, want) {
		t.Errorf("check-config -v exit %d:\n%s\nwant a line %q", code, out, want)
	}
}
