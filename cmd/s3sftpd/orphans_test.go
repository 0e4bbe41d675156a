package main

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/config"
)

// TestHomes lists each bucket and home once, in config order.
func TestHomes(t *testing.T) {
	t.Chdir(t.TempDir())
	user := func(name, home, bucket string) string {
		return "[[users]]\nname = \"" + name + "\"\nhome = \"" + home + "\"\nbucket = \"" + bucket + "\"\nkeys = [\"" + partnerKey + "\"]\n"
	}
	toml := "[s3]\nendpoint = \"http://127.0.0.1:1\"\nbucket = \"main\"\n" +
		user("a", "partners/acme/", "") + user("a-staff", "partners/acme/", "") + user("b", "partners/b/", "") + user("c", "partners/acme/", "other")
	if err := os.WriteFile("config.toml", []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	got := homes(cfg)
	want := []string{"main partners/acme/", "main partners/b/", "other partners/acme/"}
	var gotS []string
	for _, p := range got {
		gotS = append(gotS, p.Bucket+" "+p.Prefix)
	}
	if diff := cmp.Diff(want, gotS); diff != "" {
		t.Errorf("homes mismatch (-want +got):\n%s", diff)
	}
}
