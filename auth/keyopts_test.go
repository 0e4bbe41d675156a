package auth

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestMatchFrom(t *testing.T) {
	tests := []struct {
		from, addr string
		want       bool
	}{
		{"10.0.0.0/8", "10.2.3.4", true},
		{"10.0.0.0/8", "11.2.3.4", false},
		{"10.0.0.0/8,!10.1.0.0/16", "10.1.2.3", false},
		{"10.0.0.0/8,!10.1.0.0/16", "10.2.2.3", true},
		{"192.0.2.*", "192.0.2.77", true},
		{"192.0.2.?", "192.0.2.77", false},
		{"192.0.2.?", "192.0.2.7", true},
		{"*,!192.0.2.7", "192.0.2.7", false},
		{"2001:db8::/32", "2001:db8::1", true},
		{"2001:DB8::*", "2001:db8::1", true},
		{"127.0.0.1", "127.0.0.1", true},
	}
	for _, tt := range tests {
		ko, err := ParseKeyOptions([]string{`from="` + tt.from + `"`}, time.UTC)
		if err != nil {
			t.Fatalf("ParseKeyOptions(from=%q): %v", tt.from, err)
		}
		if got := MatchFrom(ko.From, netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("MatchFrom(%q, %s) = %v; want %v", tt.from, tt.addr, got, tt.want)
		}
	}
}

func TestParseKeyOptions_Errors(t *testing.T) {
	for _, opts := range [][]string{
		{`from="!10.0.0.0/8"`}, {`from="10.0.0.0/33"`}, {`from="host.example"`}, {`from=""`},
		{`expiry-time="2030"`}, {`expiry-time="20301301"`}, {`command="x"`}, {"permitopen=\"x:1\""},
		{`from="1.2.3.4"`, `from="1.2.3.4"`}, {"cert-authority"}, {"no-pty=1"},
	} {
		if _, err := ParseKeyOptions(opts, time.UTC); err == nil {
			t.Errorf("ParseKeyOptions(%q) = nil error; want one", opts)
		}
	}
}

func TestParseKeyOptions_Expiry(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	for _, tt := range []struct {
		v    string
		want time.Time
	}{
		{"20300102", time.Date(2030, 1, 2, 0, 0, 0, 0, loc)},
		{"203001021304", time.Date(2030, 1, 2, 13, 4, 0, 0, loc)},
		{"20300102130405", time.Date(2030, 1, 2, 13, 4, 5, 0, loc)},
		{"20300102130405Z", time.Date(2030, 1, 2, 13, 4, 5, 0, time.UTC)},
	} {
		ko, err := ParseKeyOptions([]string{`expiry-time="` + tt.v + `"`}, loc)
		if err != nil || !ko.Expiry.Equal(tt.want) {
			t.Errorf("expiry-time=%q: got %v, %v; want %v", tt.v, ko.Expiry, err, tt.want)
		}
	}
}

func TestPermit(t *testing.T) {
	k := newKey(t)
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	users, err := NewUsers([]User{{Name: "a", Bucket: "b", Home: "a/", Keys: []ssh.PublicKey{k},
		KeyOptions: []KeyOptions{{From: []string{"10.0.0.0/8"}, Expiry: exp}},
		AllowFrom:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr string
		now  time.Time
		want string
	}{
		{"10.1.2.3", exp.Add(-time.Second), ""},
		{"10.1.2.3", exp, "key expired at 2030-01-01T00:00:00Z"},
		{"11.1.2.3", exp.Add(-time.Second), "not allowed by the key's from="},
		{"10.2.2.3", exp.Add(-time.Second), "not in the user's allow_from"},
	} {
		err := users.Permit("a", k, netip.MustParseAddr(tt.addr), tt.now)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Permit from %s at %v = %v; want %q", tt.addr, tt.now, err, tt.want)
		}
	}
}
