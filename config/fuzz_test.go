package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// FuzzLoadConfig checks that Load never panics and that every problem is
// one "file:line:col: message" line. The corpus is the example, the error
// cases and testdata/fuzz/FuzzLoadConfig.
func FuzzLoadConfig(f *testing.F) {
	example, err := os.ReadFile("../config.example.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add(keyNames.Replace(valid))
	for _, c := range errorCases {
		f.Add(keyNames.Replace(c.config))
	}
	line := regexp.MustCompile(`^.+:\d+:\d+: .+$`)
	f.Fuzz(func(t *testing.T, src string) {
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err == nil {
			if cfg == nil {
				t.Fatal("got nil config and nil error")
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("got err = %#v; want non-empty Errors", err)
		}
		if cfg != nil {
			t.Errorf("got a config with errors")
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(errs) {
			t.Errorf("got %d lines for %d errors: %q", len(lines), len(errs), err.Error())
		}
		for _, l := range lines {
			if !line.MatchString(l) {
				t.Errorf("got line %q; want file:line:col: message", l)
			}
		}
	})
}
