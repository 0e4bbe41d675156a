package auth

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Test keys, made with ssh-keygen. Only their public halves exist.
const (
	keyA       = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrsJoJsslNPhMApmN5bjTjxJhYfa1bs9rQk0cV+ZD7h ops@acme.example"
	keyB       = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH+PKUUBnkt2/IyJqKze4JT8ALHyJuxgnh44qeN/sHZI bob@example"
	keyRSA1024 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDCM2OU6XQdH3hkeqmIE8Wg+eZ3Hs081zG/9pMEBA4H4uDIHiCfpR6vpEQeWuHnLJRD+sDkLOGgFXSrpIUTTv7cyKsu2tqthmldtmfKZc+tXInu+8ewS6qzcFuYs8YMFVWDXHGOv/5rtXABfLKZ9409hhcWlk5wCaYBy6x6Zk0EVQ== small@example"
	keyDSA     = "ssh-dss AAAAB3NzaC1kc3MAAACBAL/kPWwWHS890DSqgNmH0R8ZguI7Y4/S8y0ILAhDN/NedvdcL9Ebp7SruyGCkodOXxhKjB7zsvqnNzckzc+Bh251/OAz1xCE0iigsTDytoEfxPLaajqpPKdsM5icvyX8gJAZw4Wu3cBH03gq8nF/XE4YD6pifGW4r4MVdhcIHC2LAAAAFQDyW5YhcmBbrhkTt3DAlfh/F+doYQAAAIEAt+bH1KwoB9LBbTKA0mJOdbs3ToCppExhvT3x9VzX+MUXqqMc88Z+wapvCkh3yw/xbL0JAWpaJEg9/mcI7i5ePgOfcla0X4s8HrnkFxHx8IVFrZ0rHPP6DbphyFLi6bSIzdEyMlWWo15bRqjtjt34pd/GAXHQNNoVo+36UrWTjeYAAACBAKZKFLE57qiCAkilqmvj4PEVgy0Rv2C/AckH9MEBO8/DNhkaF6kIzAgrko/MCsJoZBVnnlFdAJUAg35EwE8xGJe1Z0wCnxz4A28wbTCkd4kaF04qrZAf6AvdBRam5E/42XktahWbcwk5gRNg5qXZ5SqaOm1Tf7ZZ7ifA/7MvQXsL dsa@example"
	keyRSA2048 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC+fqRi42doaWEl+lyG4ZVYpibWH1F6O/hZGGBVi7TH2UFmYpfiDdEc+xR9m9N2omEH9S/dwkcSy6zvGb8UTWwUVR0mOip12SKvVGbfEQTsw2O9P+gqZpG1l17EZO9OhaRquUmNlJWAyKSKZauBOSR+kIAeuQhfR9AK4SM97jzceDzHpvKvgdTKzehv+5P+Eny6OvVir4h+IMpv4xEo2X5brNVVn+2JyBOpLK8xNm2Jmr0MLxQFeFUL6hl42dgUUAa+wWKbK1U37n0S/jKE9FJQUqCFgwvTX8yXHnjODq8ByscHhKEIWGUzmccJyZwu/kxwSNV8WQk6+hhF+segWDDd rsa2048@example"
	keyCert    = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIBsW4v0uF1tJJ5k2CfoABsSCpoFxm5H0Iks0YsbLsRLCAAAAIGrsJoJsslNPhMApmN5bjTjxJhYfa1bs9rQk0cV+ZD7hAAAAAAAAAAAAAAABAAAAAmlkAAAACQAAAAVhbGljZQAAAAAAAAAA//////////8AAAAAAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDENTIu/z+4pFHo2xpmSXec9fqDkdJB604wDP4sT5apYwAAAFMAAAALc3NoLWVkMjU1MTkAAABABjwGlS9rxplbpMgjC2KdvANGJLSZW0ptx6ZChoPSwxMqlX2teHkzCZQxdZWH30305n0XFWx3LBtDCs2cgLcMAg== cert@example"
)

func TestParseAuthorizedKey(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		comment string
		options []string
		err     string
	}{
		{name: "plain", line: keyA, comment: "ops@acme.example"},
		{name: "no-comment", line: strings.Join(strings.Fields(keyB)[:2], " ")},
		{name: "padded", line: "  " + keyA + " \r", comment: "ops@acme.example"},
		{name: "options", line: `from="10.0.0.0/8,!10.1.*",expiry-time="20300101",restrict ` + keyA, comment: "ops@acme.example",
			options: []string{`from="10.0.0.0/8,!10.1.*"`, `expiry-time="20300101"`, "restrict"}},
		{name: "option-command", line: `command="/bin/true" ` + keyA, err: `key option "command" is not supported (only from=, expiry-time= and the no-* restrictions are): remove it, or the key would work without it`},
		{name: "option-hostname", line: `from="*.example.com" ` + keyA, err: `from="*.example.com": "*.example.com" is a host name; s3sftpd matches addresses only (no reverse DNS): use addresses, wildcards such as 192.0.2.* or CIDRs`},
		{name: "option-bad-expiry", line: `expiry-time="2030-01-01" ` + keyA, err: `expiry-time="2030-01-01": want YYYYMMDD[HHMM[SS]] with an optional Z for UTC`},
		{name: "empty", line: "", err: "invalid public key: no key found"},
		{name: "comment-only", line: "# " + keyA, err: "invalid public key: no key found"},
		{name: "no-type", line: "AAAAC3NzaC1lZDI1NTE5AAAAIGrsJoJsslNPhMApmN5bjTjxJhYfa1bs9rQk0cV+ZD7h", err: "invalid public key: no key found"},
		{name: "bad-base64", line: "ssh-ed25519 AAAA!!!!", err: "invalid public key: illegal base64 data at input byte 4"},
		{name: "truncated", line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrsJoJssl", err: "invalid public key: illegal base64 data at input byte 32"},
		{name: "type-mismatch", line: "ssh-rsa" + strings.TrimPrefix(keyA, "ssh-ed25519"),
			err: "invalid public key: illegal base64 data at input byte 3"}, // x/crypto reports its last attempt, with the type as options
		{name: "two-lines", line: keyA + "\n" + keyB, err: "must be one authorized_keys line"},
		{name: "certificate", line: keyCert, err: "a certificate is not a key to list: list the plain public key, or trust its CA with server.trusted_user_ca_keys"},
		{name: "rsa-1024", line: keyRSA1024, err: "RSA key has 1024 bits: at least 2048 are required"},
		{name: "dsa", line: keyDSA, err: "ssh-dss (DSA) keys are not accepted: use ssh-ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseAuthorizedKey(tt.line, 0)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("got err = %v; want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got err = %v; want nil", err)
			}
			if k.Key == nil || k.Key.Type() != "ssh-ed25519" {
				t.Errorf("got key = %v; want an ssh-ed25519 key", k.Key)
			}
			if k.Comment != tt.comment {
				t.Errorf("got comment = %q; want %q", k.Comment, tt.comment)
			}
			if !slices.Equal(k.Options, tt.options) {
				t.Errorf("got options = %q; want %q", k.Options, tt.options)
			}
		})
	}
}

// TestParseAuthorizedKeys: blank lines and comments are skipped, each key
// says which line it came from, and each bad line is reported where its
// key starts, so that check-config points at it.
func TestParseAuthorizedKeys(t *testing.T) {
	data := "# partner keys\n" + keyA + "\n\n   ssh-ed25519 AAAA!!!!\n\t" + keyB + "\n" + keyDSA + "\n"
	keys, bad := ParseAuthorizedKeys("alice.pub", []byte(data), 0)
	var sources []string
	for _, k := range keys {
		sources = append(sources, k.Source)
	}
	if want := []string{"alice.pub:2", "alice.pub:5"}; !slices.Equal(sources, want) {
		t.Errorf("got keys from %q; want %q", sources, want)
	}
	var got []string
	for _, b := range bad {
		got = append(got, fmt.Sprintf("%d:%d: %v", b.Line, b.Col, b.Err))
	}
	want := []string{"4:4: invalid public key: illegal base64 data at input byte 4", "6:1: ssh-dss (DSA) keys are not accepted: use ssh-ed25519"}
	if !slices.Equal(got, want) {
		t.Errorf("got bad lines %q; want %q", got, want)
	}
	if keys, bad := ParseAuthorizedKeys("empty.pub", []byte("# none yet\n"), 0); keys == nil || len(keys) != 0 || bad != nil {
		t.Errorf("got keys = %#v, bad = %v for a file of comments; want an empty, non-nil list and no bad lines", keys, bad)
	}
}
