package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsersCmd_ExitCodes: usage mistakes exit 2 with what is wrong, an
// unreadable trail or config exits 1, and a trail given as -trail plus
// further arguments reads every file.
func TestUsersCmd_ExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s3sftpd.toml")
	os.WriteFile(cfg, []byte(`[s3]
endpoint = "http://127.0.0.1:1"
bucket = "b"

[[users]]
name = "acme"
home = "partners/acme/"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE3p7Ifp4cM9vC1e0M6k6Z3dO8ZbmL1qT7mPPu5Yc8aR acme-laptop"]
`), 0o600)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[s3]\nbuckt = \"b\"\n"), 0o600)
	trail1, trail2 := filepath.Join(dir, "audit-000000000001.jsonl"), filepath.Join(dir, "audit.jsonl")
	os.WriteFile(trail1, []byte(`{"time":"2026-12-01T10:00:00.000Z","seq":1,"event":"server_start","result":"ok","prev":"0"}`+"\n"), 0o600)
	os.WriteFile(trail2, []byte(`{"time":"2026-12-01T11:00:00.000Z","seq":2,"event":"server_stop","result":"ok","prev":"0"}`+"\n"), 0o600)
	for _, tt := range []struct {
		name       string
		args       []string
		code       int
		wantOut    string // in stdout
		wantStderr string
	}{
		{"ok", []string{"-config", cfg}, 0, "acme-laptop", ""},
		{"no-config", nil, 2, "", "-config FILE is required"},
		{"bad-format", []string{"-config", cfg, "-format", "xml"}, 2, "", `-format "xml": want text, json or csv`},
		{"files-without-trail", []string{"-config", cfg, trail1}, 2, "", "trail files go after -trail"},
		{"trail-glob", []string{"-config", cfg, "-trail", trail1, trail2}, 0, "trail: 2 records in 2 files", ""},
		{"missing-trail", []string{"-config", cfg, "-trail", filepath.Join(dir, "nope.jsonl")}, 1, "", "nope.jsonl: no such file"},
		{"invalid-config", []string{"-config", bad}, 1, "", "bad.toml:2:1:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(append([]string{"users"}, tt.args...), &out, &errOut); code != tt.code {
				t.Errorf("exit %d; want %d\n%s%s", code, tt.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Errorf("stdout %q, stderr %q; want %q and %q", out.String(), errOut.String(), tt.wantOut, tt.wantStderr)
			}
		})
	}
}
