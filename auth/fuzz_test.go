package auth

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// FuzzKeyOptions feeds hostile option strings through x/crypto's
// authorized_keys parser and ParseKeyOptions. Properties: no panic; an
// accepted from= list has a pattern that is not negated and no host name;
// matching any address never panics; an accepted expiry parses back.
func FuzzKeyOptions(f *testing.F) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrsJoJsslNPhMApmN5bjTjxJhYfa1bs9rQk0cV+ZD7h"
	for _, s := range []string{
		`from="10.0.0.0/8,!10.1.*"`, `expiry-time="20300101"`, `expiry-time="203001011200Z"`, `restrict,no-pty`,
		`from="*"`, `from="!*"`, `from="2001:db8::/32,::1"`, `command="x"`, `from="a\"b"`, `from="[1-2]"`,
		`from="1.2.3.4",from="5.6.7.8"`, `expiry-time="99999999"`, `from="10.0.0.0/8",expiry-time="20300101",restrict`,
	} {
		f.Add(s)
	}
	addrs := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("127.0.0.1")}
	f.Fuzz(func(t *testing.T, opts string) {
		_, _, options, _, err := ssh.ParseAuthorizedKey([]byte(opts + " " + key))
		if err != nil {
			return
		}
		ko, err := ParseKeyOptions(options, time.UTC)
		if err != nil {
			return
		}
		if ko.From != nil {
			positive := false
			for _, p := range ko.From {
				positive = positive || !strings.HasPrefix(p, "!")
				if strings.ContainsAny(strings.TrimPrefix(p, "!"), "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ") {
					t.Errorf("from= pattern %q with a host name accepted", p)
				}
			}
			if !positive {
				t.Errorf("from=%q without a positive pattern accepted", ko.From)
			}
			for _, a := range addrs {
				MatchFrom(ko.From, a)
			}
		}
		if !ko.Expiry.IsZero() && ko.Expiry.Year() < 1000 {
			t.Errorf("expiry %v accepted", ko.Expiry)
		}
	})
}
