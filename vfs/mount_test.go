package vfs

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/s3sftpd/s3sftpd/vfs/vfstest"
)

const testPrefix = "partners/acme/"

func TestMount_HostilePathsStayInside(t *testing.T) {
	m := Mount{Prefix: testPrefix}
	refused := 0
	for _, p := range vfstest.HostilePaths() {
		for _, f := range []func(string) (string, error){m.Key, m.DirKey} {
			key, err := f(p)
			if err != nil {
				refused++
				continue
			}
			checkKey(t, p, key)
		}
	}
	if refused == 0 {
		t.Errorf("no hostile path was refused; control characters and backslashes must be")
	}
}

func checkKey(t *testing.T, p, key string) {
	t.Helper()
	switch {
	case !strings.HasPrefix(key, testPrefix):
		t.Errorf("key(%q) = %q; escapes the prefix %q", p, key, testPrefix)
	case len(key) > MaxKeyLen:
		t.Errorf("key(%q) has %d bytes; want ≤ %d", p, len(key), MaxKeyLen)
	case !utf8.ValidString(key) || strings.ContainsAny(key, "\x00\\\n\r"):
		t.Errorf("key(%q) = %q; holds bytes that must be refused", p, key)
	case strings.Contains(key, "//") || strings.Contains(key[len(testPrefix):], "../") || strings.HasSuffix(key, "/..") || strings.Contains(key, "/./"):
		t.Errorf("key(%q) = %q; not clean", p, key)
	}
}

func TestMount_Mapping(t *testing.T) {
	m := Mount{Prefix: testPrefix}
	tests := []struct{ path, want string }{
		{"/", testPrefix},
		{"", testPrefix},
		{"/a.csv", testPrefix + "a.csv"},
		{"a.csv", testPrefix + "a.csv"},
		{"/in/b c.csv", testPrefix + "in/b c.csv"},
		{"/../../x", testPrefix + "x"},
		{"/in//x/", testPrefix + "in/x"},
		{"/é#%&+.txt", testPrefix + "é#%&+.txt"},
	}
	for _, tt := range tests {
		if got, err := m.Key(tt.path); err != nil || got != tt.want {
			t.Errorf("key(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
	for _, bad := range []string{"/a\x00", "/a\\b", "/x.", "/\xff", "/a\tb", "/" + strings.Repeat("n", 1020), "/!s3sftpd-lifecycle", "/sub/!s3sftpd-times"} {
		if got, err := m.Key(bad); err == nil {
			t.Errorf("key(%q) = %q; want refused", bad, got)
		}
	}
}

func FuzzJail(f *testing.F) {
	for _, p := range vfstest.HostilePaths() {
		f.Add(p)
	}
	m := Mount{Prefix: testPrefix}
	f.Fuzz(func(t *testing.T, p string) {
		if key, err := m.Key(p); err == nil {
			checkKey(t, p, key)
		}
		if key, err := m.DirKey(p); err == nil {
			checkKey(t, p, key)
		}
	})
}
