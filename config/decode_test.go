package config

import "testing"

func TestNearest(t *testing.T) {
	names := []string{"listen", "host_key_dir", "idle_timeout", "max_auth_tries", "dir", "name", "home", "keys"}
	tests := []struct{ in, want string }{
		{"listn", "listen"},
		{"Listen", "listen"},
		{"nmae", "name"},
		{"idle_timout", "idle_timeout"},
		{"max_auth_retries", "max_auth_tries"},
		{"max_tries", ""},
		{"readble", ""},
		{"di", "dir"},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := nearest(tt.in, names); got != tt.want {
			t.Errorf("nearest(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
