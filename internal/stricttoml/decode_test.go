package stricttoml

import (
	"slices"
	"strings"
	"testing"
)

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

type hinted struct{ v string }

func (h *hinted) UnmarshalText(b []byte) error { h.v = string(b); return nil }
func (hinted) TOMLHint() string                { return `a colour such as "red"` }

// TestDecode_ReportsEveryProblemAtItsKey: a wrong type, a wrong type of a
// string-decoded field (with the field's own hint), an unknown key with the
// nearest name, all in one pass, each at its line and column; the good
// keys are still set.
func TestDecode_ReportsEveryProblemAtItsKey(t *testing.T) {
	type server struct {
		Listen string `toml:"listen"`
		Tries  int    `toml:"max_tries"`
		Colour hinted `toml:"colour"`
	}
	var cfg struct {
		Server server `toml:"server"`
	}
	cfg.Server.Tries = 6 // a default, kept when the key is wrong
	src := "[server]\nlisten = \"0.0.0.0:22\"\nmax_tries = \"many\"\ncolour = 7\nlistn = 1\n"
	r := Decode([]byte(src), &cfg)
	want := []Problem{
		{Position{3, 1}, `server.max_tries: expected an integer, got string "many"`},
		{Position{4, 1}, `server.colour: expected a colour such as "red", got integer 7`},
		{Position{5, 1}, `unknown key "server.listn" (did you mean "listen"?)`},
	}
	if !slices.Equal(r.Problems, want) {
		t.Errorf("problems:\n got %v\nwant %v", r.Problems, want)
	}
	if cfg.Server.Listen != "0.0.0.0:22" || cfg.Server.Tries != 6 {
		t.Errorf("decoded %+v; want listen set and max_tries left at its default", cfg.Server)
	}
	if !r.Present["server.listen"] || !r.Failed["server.max_tries"] || r.Syntax {
		t.Errorf("present %v, failed %v, syntax %v; want listen present, max_tries failed, no syntax error", r.Present, r.Failed, r.Syntax)
	}
	if r := Decode([]byte("[server\n"), &cfg); !r.Syntax || len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0].Msg, "syntax error: ") {
		t.Errorf("a syntax error: %+v; want one syntax error and Syntax set", r)
	}
}
