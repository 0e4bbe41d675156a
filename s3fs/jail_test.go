package s3fs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

const testPrefix = "partners/acme/"

// hostilePaths are names an attacker or a confused client might send.
func hostilePaths() []string {
	base := []string{
		"..", "../..", "/..", "/../other/x", "../other/", "a/../../b", "/a/b/../../../../etc/passwd",
		"//", "///x", "a//b", "./a", "/./", ".", "a/.", "a/./b", "...", "a/...", "file.", "dir./x",
		"a\\..\\..\\b", "\\\\server\\share", "C:\\x", "a\x00b", "\x00", "a\nb", "a\rb", "\x1b[31m", "a\x7fb",
		"\xff\xfe", "a/\xc0\xaf", "\xed\xa0\x80", "a\u0085b", strings.Repeat("a", 1100),
		strings.Repeat("ab/", 400), "/" + strings.Repeat("../", 50) + "x", "~", "~root", "$HOME",
		"a/b/c/../../../..", "partners/other/", "../acme2/x", "..%2f..%2fx", "%2e%2e/x", " ", " /x",
		"\u202e", "é", "e\u0301", "con", "a:b", "*", "?", "<>|",
	}
	var out []string
	for _, p := range base {
		out = append(out, p, "/"+p, p+"/", "/in/"+p, p+"/../x")
	}
	return out
}

func TestJail_HostilePathsStayInside(t *testing.T) {
	j := jail{prefix: testPrefix}
	refused := 0
	for _, p := range hostilePaths() {
		for _, f := range []func(string) (string, error){j.key, j.dirKey} {
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
	case len(key) > maxKeyLen:
		t.Errorf("key(%q) has %d bytes; want ≤ %d", p, len(key), maxKeyLen)
	case !utf8.ValidString(key) || strings.ContainsAny(key, "\x00\\\n\r"):
		t.Errorf("key(%q) = %q; holds bytes that must be refused", p, key)
	case strings.Contains(key, "//") || strings.Contains(key[len(testPrefix):], "../") || strings.HasSuffix(key, "/..") || strings.Contains(key, "/./"):
		t.Errorf("key(%q) = %q; not clean", p, key)
	}
}

func TestJail_Mapping(t *testing.T) {
	j := jail{prefix: testPrefix}
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
		if got, err := j.key(tt.path); err != nil || got != tt.want {
			t.Errorf("key(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
	for _, bad := range []string{"/a\x00", "/a\\b", "/x.", "/\xff", "/a\tb", "/" + strings.Repeat("n", 1020)} {
		if got, err := j.key(bad); err == nil {
			t.Errorf("key(%q) = %q; want refused", bad, got)
		}
	}
}

func FuzzJail(f *testing.F) {
	for _, p := range hostilePaths() {
		f.Add(p)
	}
	j := jail{prefix: testPrefix}
	f.Fuzz(func(t *testing.T, p string) {
		if key, err := j.key(p); err == nil {
			checkKey(t, p, key)
		}
		if key, err := j.dirKey(p); err == nil {
			checkKey(t, p, key)
		}
	})
}

// TestJail_ThroughHandlers sends every hostile path through a real SFTP client
// to real S3 as upload, mkdir, rename and remove, then checks that every key
// in the bucket is inside the tenant's prefix and the neighbour is untouched.
func TestJail_ThroughHandlers(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	e.s3.Put(t, "partners/acme2/secret.txt", []byte("neighbour"))
	e.s3.Put(t, "top-level.txt", []byte("outside"))
	c := e.session(t, testPrefix, 0xff)
	paths := hostilePaths()
	for i, p := range paths {
		writeFile(t, c, p, []byte("x"))
		c.Mkdir(p)
		c.Rename(p, paths[(i+1)%len(paths)])
		c.PosixRename("/in/ok", p)
		c.Remove(p)
		c.Stat(p)
		c.Open(p)
	}
	for _, p := range paths { // leave the files in place this time
		writeFile(t, c, p, []byte("x"))
	}
	inside := 0
	for _, key := range e.s3.Keys(t, "") {
		switch {
		case key == "partners/acme2/secret.txt" || key == "top-level.txt":
		case strings.HasPrefix(key, testPrefix):
			inside++
		default:
			t.Errorf("key %q was written outside the jail", key)
		}
	}
	if inside == 0 {
		t.Errorf("no key written inside the jail; the test did not exercise uploads")
	}
	if got, _ := e.s3.Get(t, "partners/acme2/secret.txt"); string(got) != "neighbour" {
		t.Errorf("neighbour's file = %q; want untouched", got)
	}
	t.Logf("%d hostile paths, %d keys inside the jail", len(paths), inside)
}
