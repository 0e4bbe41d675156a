package upload

import "testing"

func TestFinalName(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b.txt.filepart":       "/a/b.txt",
		"/b.txt.0a1b2c3d.partial": "/b.txt",
		"/b.partial":              "",
		"/.filepart":              "",
		"/a/.x.partial":           "",
		"/plain.txt":              "",
	} {
		got, _ := TempNames(DefaultTempSuffixes).Final(in)
		if got != want {
			t.Errorf("Final(%q) = %q; want %q", in, got, want)
		}
	}
}
