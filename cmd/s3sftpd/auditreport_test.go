package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditReport_Usage: bad flags are refused with exit 2 and say why;
// a good trail gives exit 0 with the verification first.
func TestAuditReport_Usage(t *testing.T) {
	dir, keyFile := writeTrail(t)
	files, _ := filepath.Glob(filepath.Join(dir, "audit*.jsonl"))
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no-files", nil, 2, "name the trail's files"},
		{"bad-format", []string{"-format", "pdf", files[0]}, 2, `unknown format "pdf"`},
		{"bad-since", []string{"-since", "yesterday", files[0]}, 2, "-since: time \"yesterday\""},
		{"resolve-without-config", []string{"-resolve-names", files[0]}, 2, "-resolve-names and -config go together"},
		{"missing-file", []string{filepath.Join(dir, "nope.jsonl")}, 2, "open audit file"},
		{"ok", append([]string{"-hmac-key-file", keyFile}, files...), 0, "MAC verified, checkpoint seq"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"audit", "report"}, c.args...), &stdout, &stderr)
			if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.want) {
				t.Errorf("exit %d; want %d and %q in:\n%s%s", code, c.code, c.want, stdout.String(), stderr.String())
			}
		})
	}
}
