package stricttoml

import (
	"fmt"
	"slices"
	"testing"
)

func TestIndexKeys(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]string // path → "line:col"
	}{
		{
			name: "tables-and-keys",
			src:  "# c\n[server]\nlisten = \"x\" # c\n  max_auth_tries=3\n\n[ s3 ]\nbucket = 'b'\n",
			want: map[string]string{"server": "2:1", "server.listen": "3:1", "server.max_auth_tries": "4:3",
				"s3": "6:1", "s3.bucket": "7:1"},
		},
		{
			name: "array-of-tables",
			src:  "[[users]]\nname = \"a\"\n[[users]]\nname = \"b\"\n[users.limits]\nmax = 1\n[[ users ]]\nhome = \"c/\"\n",
			want: map[string]string{"users[0]": "1:1", "users[0].name": "2:1", "users[1]": "3:1", "users[1].name": "4:1",
				"users[1].limits": "5:1", "users[1].limits.max": "6:1", "users[2]": "7:1", "users[2].home": "8:1"},
		},
		{
			name: "array-elements-across-lines",
			src:  "keys = [\n  \"a\", # first\n  # between\n  'b',\n\n  \"\"\"c\nd\"\"\", 4, [5, 6],\n]\nnext = 1\n",
			want: map[string]string{"keys": "1:1", "keys[0]": "2:3", "keys[1]": "4:3", "keys[2]": "6:3", "keys[3]": "7:7",
				"keys[4]": "7:10", "keys[4][0]": "7:11", "keys[4][1]": "7:14", "next": "9:1"},
		},
		{
			name: "strings-that-look-like-keys",
			src:  "a = \"\"\"\nb = 1\n[c]\n\"\"\"\nd = '''\ne = 2'''\nf = \"x = \\\" [g]\"\ng = 'h # i'\n",
			want: map[string]string{"a": "1:1", "d": "5:1", "f": "7:1", "g": "8:1"},
		},
		{
			name: "dotted-and-quoted",
			src:  "[server]\ntls.cert = 1\n\"a.b\" . c = 2\n'lit' = 3\n\"\\u0041\" = 4\n",
			want: map[string]string{"server.tls": "2:1", "server.tls.cert": "2:1", `server."a.b"`: "3:1",
				`server."a.b".c`: "3:1", "server.lit": "4:1", "server.A": "5:1"},
		},
		{
			name: "inline-tables",
			src:  "s3 = { bucket = \"b\", sse = \"x\" }\nusers = [{ name = \"a\" },\n  { name = \"b\", keys = [\"k\"] }]\n",
			want: map[string]string{"s3": "1:1", "s3.bucket": "1:8", "s3.sse": "1:22", "users[0]": "2:10",
				"users[0].name": "2:12", "users[1]": "3:3", "users[1].name": "3:5", "users[1].keys[0]": "3:25"},
		},
		{
			name: "date-time-with-space",
			src:  "a = 1979-05-27 07:32:00Z\nb = [1979-05-27 07:32:00, 2]\n",
			want: map[string]string{"a": "1:1", "b[0]": "2:6", "b[1]": "2:27"},
		},
		{
			name: "byte-order-mark",
			src:  "\ufeff[server]\nlisten = 1\n",
			want: map[string]string{"server": "1:1", "server.listen": "2:1"},
		},
		{
			name: "crlf",
			src:  "[server]\r\nlisten = \"x\"\r\nkeys = [\r\n  \"a\",\r\n]\r\n",
			want: map[string]string{"server": "1:1", "server.listen": "2:1", "server.keys[0]": "4:3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := Scan([]byte(tt.src))
			for path, want := range tt.want {
				p, ok := x.at[path]
				if got := fmt.Sprintf("%d:%d", p.Line, p.Col); !ok || got != want {
					t.Errorf("got %s at %s (indexed %v); want %s", path, got, ok, want)
				}
			}
		})
	}
}

func TestKeyIndex_Find(t *testing.T) {
	x := Scan([]byte("[server]\nlisten = 1\n[[users]]\nname = \"a\"\n[[users]]\nkeys = [\"k\"]\n"))
	tests := []struct {
		path string
		want Position
	}{
		{"server.listen", Position{2, 1}},
		{"server.idle_timeout", Position{1, 1}}, // the table
		{"users[1].keys[0]", Position{6, 9}},
		{"users[1].keys[3]", Position{6, 1}}, // the array
		{"users[1].name", Position{5, 1}},    // the table
		{"users[7].name", Position{1, 1}},    // nothing: 1:1
		{"s3.bucket", Position{1, 1}},
		{"", Position{1, 1}},
	}
	for _, tt := range tests {
		if got := x.Find(tt.path); got != tt.want {
			t.Errorf("find(%q) = %v; want %v", tt.path, got, tt.want)
		}
	}
	if got, want := x.FindAll("users.name"), []Position{{4, 1}}; !slices.Equal(got, want) {
		t.Errorf("findAll(users.name) = %v; want %v", got, want)
	}
	if got, want := x.FindAll("users"), []Position{{3, 1}, {5, 1}}; !slices.Equal(got, want) {
		t.Errorf("findAll(users) = %v; want %v", got, want)
	}
	if got, want := x.FindAll("users.keys"), []Position{{6, 1}}; !slices.Equal(got, want) {
		t.Errorf("findAll(users.keys) = %v; want %v", got, want)
	}
}

// TestIndexKeys_NotTOML checks that the scanner stops on anything.
func TestIndexKeys_NotTOML(t *testing.T) {
	for _, src := range []string{
		"", "[", "[[", "]", "=", "a =", "a = [", "a = {", "a = [}", "a = {]", "a = \"", "a = '''", "a = \"\"\"x",
		"a = [,,,]", "a = {,,}", "a = { = 1 }", "\"", "'", "a.", "a = [1 2 3]", "a = \"\\", "[a.]\n", "\xff = 1",
	} {
		Scan([]byte(src))
	}
}

func TestStripIndexes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"users[2].keys[10]", "users.keys"},
		{"users", "users"},
		{"a[]", "a[]"},
		{"a[x]", "a[x]"},
		{"a[1", "a[1"},
	}
	for _, tt := range tests {
		if got := stripIndexes(tt.in); got != tt.want {
			t.Errorf("stripIndexes(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestJoinKey(t *testing.T) {
	tests := []struct{ path, seg, want string }{
		{"", "server", "server"},
		{"server", "listen", "server.listen"},
		{"users[0]", "keys_file", "users[0].keys_file"},
		{"server", "a.b", `server."a.b"`},
		{"", "", `""`},
		{"", "ä", `"ä"`},
	}
	for _, tt := range tests {
		if got := JoinKey(tt.path, tt.seg); got != tt.want {
			t.Errorf("JoinKey(%q, %q) = %q; want %q", tt.path, tt.seg, got, tt.want)
		}
	}
}
