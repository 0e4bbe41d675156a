package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/s3sftpd/s3sftpd/memlimit"
)

// Size is a number of bytes, written in TOML as a string: "16MiB",
// "512MiB", "5GiB", or "1024" for bytes. Units are B, binary KiB MiB GiB
// TiB and decimal KB MB GB TB.
type Size int64

// Size units.
const (
	KiB Size = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var sizeUnits = map[string]Size{
	"": 1, "B": 1,
	"KiB": KiB, "MiB": MiB, "GiB": GiB, "TiB": TiB,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// UnmarshalText parses a size such as "16MiB".
func (s *Size) UnmarshalText(text []byte) error {
	str := string(text)
	digits := len(str) - len(strings.TrimLeft(str, "0123456789"))
	unit, ok := sizeUnits[str[digits:]]
	if digits == 0 || !ok {
		return fmt.Errorf("invalid size %q: want a whole number and a unit, such as \"16MiB\" (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", str)
	}
	n, err := strconv.ParseInt(str[:digits], 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return fmt.Errorf("invalid size %q: too large", str)
	}
	*s = Size(n) * unit
	return nil
}

// MarshalText formats s as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String formats s in the largest binary unit that divides it exactly:
// "16MiB", "1000B".
func (s Size) String() string { return memlimit.Bytes(s).String() }

// TOMLHint says what a size looks like (stricttoml.Hinter).
func (Size) TOMLHint() string { return `a size string such as "16MiB"` }
