package audit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBound(t *testing.T) {
	long := strings.Repeat("a", 200<<10)
	for _, tc := range []struct {
		name, in string
		n        int
	}{
		{"short", "ed", 256},
		{"exactly", strings.Repeat("b", 256), 256},
		{"long", long, 256},
		{"cut-inside-a-character", strings.Repeat("é", 200), 255},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Bound(tc.in, tc.n)
			if len(tc.in) <= tc.n {
				if got != tc.in {
					t.Errorf("got %q; want it unchanged", got)
				}
				return
			}
			if len(got) > tc.n+64 || !utf8.ValidString(got) || !strings.Contains(got, "…[cut ") {
				t.Errorf("got %d bytes %q…; want at most %d valid UTF-8 bytes with a cut marker", len(got), got[:32], tc.n+64)
			}
		})
	}
	if Bound(long+"x", MaxName) == Bound(long+"y", MaxName) {
		t.Errorf("two long names that differ at the end are bounded to the same string")
	}
}

// TestLog_BoundsClientStrings: a record full of 200 KB strings is written
// as one line of a few KB.
func TestLog_BoundsClientStrings(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	got := lines(t, Config{}, Record{Event: EventRefused, User: big, Client: big, Op: big, Path: big, Target: big, Error: big, Reason: big})
	if n := len(got[0]); n > 8<<10 {
		t.Errorf("record is %d bytes; want under 8 KB", n)
	}
}
