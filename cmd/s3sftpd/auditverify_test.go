package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/audit"
)

// writeTrail writes a rotated, MAC'd trail with audit.Log and returns its
// directory and key file.
func writeTrail(t *testing.T) (dir, keyFile string) {
	t.Helper()
	dir = t.TempDir()
	key := []byte("0123456789abcdef0123456789abcdef")
	keyFile = filepath.Join(t.TempDir(), "audit.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(audit.Config{File: filepath.Join(dir, "audit.jsonl"), HMACKey: key, RotateSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := l.Write(audit.Record{Event: audit.EventMkdir, Path: fmt.Sprintf("/d%d", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, keyFile
}

// tamper rewrites the lines of the file in dir whose content has marker.
func tamper(t *testing.T, dir, marker string, edit func([]string, int) []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		for i, l := range lines {
			if strings.Contains(l, marker) {
				out := edit(slices.Clone(lines), i)
				os.WriteFile(f, []byte(strings.Join(out, "\n")+"\n"), 0o600)
				return
			}
		}
	}
	t.Fatalf("no line with %q", marker)
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600)
	}
	return dst
}

func TestAuditVerify(t *testing.T) {
	src, keyFile := writeTrail(t)
	tests := []struct {
		name     string
		noKey    bool
		tamper   func(dir string)
		wantCode int
		want     string // regexp the output must match
	}{
		{name: "intact", wantCode: 0,
			want: `^OK: \d+ records, seq 1\.\.\d+, [3-9] files, MAC verified, checkpoint seq \d+ found\n$`},
		{name: "intact-without-key", noKey: true, wantCode: 0,
			want: `^OK: .*, MAC not checked \(no -hmac-key-file\), checkpoint seq \d+ found\n$`},
		{name: "edited", wantCode: 1, tamper: func(dir string) {
			tamper(t, dir, `"/d7"`, func(l []string, i int) []string { l[i] = strings.Replace(l[i], "/d7", "/x7", 1); return l })
		}, want: `^\S+\.jsonl:\d+: seq \d+: MAC mismatch`},
		{name: "edited-without-key", noKey: true, wantCode: 1, tamper: func(dir string) {
			tamper(t, dir, `"/d7"`, func(l []string, i int) []string { l[i] = strings.Replace(l[i], "/d7", "/x7", 1); return l })
		}, want: `^\S+\.jsonl:\d+: seq \d+: prev is not the SHA-256 of the line before`},
		{name: "inserted", wantCode: 1, tamper: func(dir string) {
			tamper(t, dir, `"/d12"`, func(l []string, i int) []string { return slices.Insert(l, i, l[i]) })
		}, want: `: seq \d+: follows seq \d+: a record was inserted, duplicated or reordered\n$`},
		{name: "removed", wantCode: 1, tamper: func(dir string) {
			tamper(t, dir, `"/d15"`, func(l []string, i int) []string { return slices.Delete(l, i, i+1) })
		}, want: `: seq \d+: follows seq \d+: record \d+ is missing \(removed or reordered\)\n$`},
		{name: "reordered", wantCode: 1, tamper: func(dir string) {
			tamper(t, dir, `"/d20"`, func(l []string, i int) []string { l[i-1], l[i] = l[i], l[i-1]; return l })
		}, want: `: seq \d+: follows seq \d+: record \d+ is missing \(removed or reordered\)\n$`},
		{name: "free-text-and-a-fake-record-injected", wantCode: 1, tamper: func(dir string) {
			tamper(t, dir, `"/d9"`, func(l []string, i int) []string {
				for n := range 40 {
					l = slices.Insert(l, i, fmt.Sprintf("note %d", n))
				}
				return slices.Insert(l, i+20, `{"seq":9,"event":"remove","path":"/d8"`)
			})
		}, want: `^\S+\.jsonl:\d+: seq \d+: not an audit record, nor is the line after it: a crash tears only the line being written; lines were injected or edited\n$`},
		{name: "tail-truncated", wantCode: 1, tamper: func(dir string) {
			tamper(t, dir, `"/d29"`, func(l []string, i int) []string { return l[:i] })
		}, want: `^\S+audit\.jsonl:\d+: seq (\d+): log ends at seq (\d+) but checkpoint seq \d+ was written at \S+ \(\S+\.checkpoint\): records after \d+ were removed\n$`},
		{name: "tail-truncated-checkpoint-gone", wantCode: 0, tamper: func(dir string) {
			tamper(t, dir, `"/d29"`, func(l []string, i int) []string { return l[:i] })
			os.Remove(filepath.Join(dir, "audit.jsonl.checkpoint"))
		}, want: `^OK: .*, no checkpoint file: tail truncation not checked\n$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, src)
			if tt.tamper != nil {
				tt.tamper(dir)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
			args := []string{"audit", "verify"}
			if !tt.noKey {
				args = append(args, "-hmac-key-file", keyFile)
			}
			var stdout, stderr bytes.Buffer
			code := run(append(args, files...), &stdout, &stderr)
			if code != tt.wantCode || !regexp.MustCompile(tt.want).MatchString(stdout.String()) {
				t.Errorf("exit %d, output %q (stderr %q); want exit %d and output matching %s", code, stdout.String(), stderr.String(), tt.wantCode, tt.want)
			}
		})
	}
}

func TestAuditVerify_Usage(t *testing.T) {
	dir, _ := writeTrail(t)
	live := filepath.Join(dir, "audit.jsonl")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no-files", []string{"audit", "verify"}, "name the trail's files"},
		{"no-subcommand", []string{"audit"}, "want the subcommand verify"},
		{"missing-file", []string{"audit", "verify", filepath.Join(dir, "nope.jsonl")}, "open audit file"},
		{"missing-key", []string{"audit", "verify", "-hmac-key-file", filepath.Join(dir, "nope.key"), live}, "read HMAC key"},
		{"missing-checkpoint", []string{"audit", "verify", "-checkpoint", filepath.Join(dir, "nope"), live}, "read checkpoint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
		})
	}
}
