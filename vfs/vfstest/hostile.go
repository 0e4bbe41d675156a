// Package vfstest holds what tests of every layer that takes a client path
// share: the paths an attacker or a confused client might send.
package vfstest

import "strings"

// HostilePaths are names an attacker or a confused client might send, each
// also with a leading and a trailing "/", below a directory, and followed by
// "/../x".
func HostilePaths() []string {
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
