package config

import "testing"

func TestHomeProblem(t *testing.T) {
	tests := []struct{ home, want string }{
		{"partners/acme/", ""},
		{"a/", ""},
		{"ünïcode/", ""},
		{"a\xffb/", "must not contain invalid UTF-8"},
		{"a\x7fb/", "must not contain control characters"},
		{"a\u0085b/", "must not contain control characters"},
		{"a/b", `must end with "/"`},
		{"a/./", `must not contain empty, "." or ".." segments`},
		{"../", `must not contain empty, "." or ".." segments`},
		{"a//", `must not contain empty, "." or ".." segments`},
		{"/", `must not start with "/": it is a key prefix inside the bucket, such as "partners/acme/"`},
		{string(make([]byte, 1023)) + "/", "must not contain control characters"},
	}
	long := ""
	for len(long) < 1024 {
		long += "abcdefg/"
	}
	tests = append(tests, struct{ home, want string }{long, "must be shorter than 1024 bytes, the S3 key limit"})
	for _, tt := range tests {
		if got := homeProblem(tt.home); got != tt.want {
			t.Errorf("homeProblem(%.20q) = %q; want %q", tt.home, got, tt.want)
		}
	}
}
