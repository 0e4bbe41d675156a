package config

import (
	"fmt"
	"time"

	"github.com/s3sftpd/s3sftpd/config/tree"
)

// Duration is a time.Duration written in TOML as a string only, such as
// "30s", "15m", "1h30m" or "2d". Bare numbers are rejected: is 30 seconds or
// nanoseconds?
type Duration struct{ time.Duration }

// UnmarshalText parses a duration with tree.ParseDuration (time's, and days).
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := tree.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number and a unit, such as \"30s\", \"15m\" or \"1h30m\"", text)
	}
	d.Duration = v
	return nil
}

// MarshalText formats d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// TOMLHint says what a duration looks like (stricttoml.Hinter).
func (Duration) TOMLHint() string { return `a duration string such as "30s"` }
