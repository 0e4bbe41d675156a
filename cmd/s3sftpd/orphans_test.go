package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/config"
)

// TestHomes lists each bucket and home once, in config order.
func TestHomes(t *testing.T) {
	cfg := &config.Config{S3: config.S3{Bucket: "main"}, Users: []config.User{
		{Name: "a", Home: "partners/acme/"},
		{Name: "a-staff", Home: "partners/acme/"},
		{Name: "b", Home: "partners/b/"},
		{Name: "c", Home: "partners/acme/", Bucket: "other"},
	}}
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
