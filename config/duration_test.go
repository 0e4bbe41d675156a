package config

import (
	"testing"
	"time"
)

func TestDuration_UnmarshalText(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "15m", want: 15 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "-1s", want: -time.Second}, // parsed; validation rejects it
		{in: "0", want: 0},
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "d", err: true},
		{in: "1d-1h", err: true},
		{in: "-1d", err: true},
		{in: "30", err: true},
		{in: "30 s", err: true},
		{in: "", err: true},
		{in: "soon", err: true},
	}
	for _, tt := range tests {
		var got Duration
		err := got.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.err || (!tt.err && got.Duration != tt.want) {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	text, _ := Duration{90 * time.Minute}.MarshalText()
	if got, want := string(text), "1h30m0s"; got != want {
		t.Errorf("MarshalText = %q; want %q", got, want)
	}
}
