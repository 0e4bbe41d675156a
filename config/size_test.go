package config

import (
	"testing"
)

func TestSize_UnmarshalText(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  bool
	}{
		{in: "1024", want: 1024},
		{in: "0", want: 0},
		{in: "7B", want: 7},
		{in: "16MiB", want: 16 << 20},
		{in: "512MiB", want: 512 << 20},
		{in: "5GiB", want: 5 << 30},
		{in: "2KiB", want: 2048},
		{in: "1TiB", want: 1 << 40},
		{in: "1KB", want: 1000},
		{in: "16MB", want: 16e6},
		{in: "3GB", want: 3e9},
		{in: "2TB", want: 2e12},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "8388608TiB", err: true},
		{in: "99999999999999999999", err: true},
		{in: "", err: true},
		{in: "MiB", err: true},
		{in: "16 MiB", err: true},
		{in: "16mib", err: true},
		{in: "16M", err: true},
		{in: "-1MiB", err: true},
		{in: "1.5GiB", err: true},
		{in: " 16MiB", err: true},
	}
	for _, tt := range tests {
		var got Size
		err := got.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSize_String(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0B"},
		{1000, "1000B"},
		{2048, "2KiB"},
		{16 * MiB, "16MiB"},
		{5 * GiB, "5GiB"},
		{1536 * MiB, "1536MiB"},
		{3 * TiB, "3TiB"},
		{1e9, "1000000000B"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
		}
		var back Size
		text, _ := tt.in.MarshalText()
		if err := back.UnmarshalText(text); err != nil || back != tt.in {
			t.Errorf("round trip of %d = %d, %v; want %d", int64(tt.in), back, err, int64(tt.in))
		}
	}
}
