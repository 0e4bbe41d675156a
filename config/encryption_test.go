package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoad_KEKFiles: a private KEK file is read (the golden error cases
// cover the refusals a 0644 file gets); a private file that is not 32
// bytes of base64 is refused without quoting it.
func TestLoad_KEKFiles(t *testing.T) {
	dir := t.TempDir()
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	os.WriteFile(filepath.Join(dir, "kek"), []byte(key+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "short"), []byte("c2VjcmV0LWJ1dC1zaG9ydA=="), 0o600)
	write := func(enc string) string {
		p := filepath.Join(dir, "config.toml")
		os.WriteFile(p, []byte(keyNames.Replace(valid+"[encryption]\n"+enc)), 0o600)
		return p
	}
	cfg, err := Load(write("mode = \"envelope\"\nnames = \"encrypted\"\nkek_file = \"kek\"\n"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	e := cfg.Encryption
	if !bytes.Equal(e.KEK, []byte("0123456789abcdef0123456789abcdef")) || !bytes.Equal(e.NamesKEK, e.KEK) {
		t.Errorf("KEK = %d bytes, NamesKEK = %d bytes; want the file's 32 bytes for both", len(e.KEK), len(e.NamesKEK))
	}
	_, err = Load(write("mode = \"envelope\"\nkek_file = \"short\"\n"))
	if err == nil || !strings.Contains(err.Error(), "must hold 32 random bytes") || strings.Contains(err.Error(), "c2Vj") {
		t.Errorf("Load with a short key = %v; want a refusal that does not quote it", err)
	}
}
