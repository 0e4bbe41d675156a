package config

import (
	"os"
	"strings"
	"testing"
)

// TestLoad_EventsSecret: a webhook secret file must be owner-only and hold
// 32 bytes or more; a good one is loaded for the sink and never printed.
func TestLoad_EventsSecret(t *testing.T) {
	for _, tt := range []struct {
		name, secret, want string
	}{
		{"short", "0123456789abcdef0123456789abcde", `config.toml:10:1: events.webhook[0].secret_file: the file holds 31 bytes; a webhook secret needs at least 32`},
		{"ok", "0123456789abcdef0123456789abcdef", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if err := os.WriteFile("hook.secret", []byte(tt.secret), 0o600); err != nil {
				t.Fatal(err)
			}
			writeFiles(t, ".", map[string]string{"config.toml": valid + "[[events.webhook]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret_file = \"hook.secret\"\ntypes = [\"upload\"]\n"})
			cfg, err := Load("config.toml")
			if tt.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
					t.Fatalf("got err = %v; want %s", err, tt.want)
				}
				if strings.Contains(err.Error(), tt.secret) {
					t.Errorf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sinks := cfg.Events.Sinks()
			if len(sinks) != 1 || string(sinks[0].Secret) != tt.secret || sinks[0].URL != "http://127.0.0.1:9/hook" || sinks[0].Types[0] != "upload" {
				t.Errorf("got sinks %+v; want the webhook with its secret", sinks)
			}
		})
	}
}
