package audit

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// decodeRecord is json.Unmarshal(line, r) into a zero r, made fast for the
// lines Log writes, which Verify and reports decode by the million: a flat
// object of known keys whose values are strings (escapes limited to \" and
// \\), non-negative integers and times. Any other line, however valid, goes
// to json.Unmarshal, so the outcome is always the one json.Unmarshal gives
// (FuzzDecodeRecord checks it).
func decodeRecord(line []byte, r *Record) error {
	if decodeFlat(line, r) {
		return nil
	}
	*r = Record{}
	return json.Unmarshal(line, r)
}

// decodeFlat decodes line into r when it is in the subset above, and
// reports whether it was; r is then filled, else partly written.
func decodeFlat(line []byte, r *Record) bool {
	if len(line) < 2 || line[0] != '{' {
		return false
	}
	whole := string(line) // one allocation: the fields are slices of it
	i := 1
	if line[i] == '}' {
		return i+1 == len(line)
	}
	for {
		key, j, ok := flatKey(line, i)
		if !ok || j >= len(line) || line[j] != ':' {
			return false
		}
		i = j + 1
		if i >= len(line) {
			return false
		}
		if line[i] == '"' {
			var s string
			if s, i, ok = flatString(line, whole, i); !ok || !r.setString(key, s) {
				return false
			}
		} else {
			var n uint64
			if n, i, ok = flatUint(line, i); !ok || !r.setUint(key, n) {
				return false
			}
		}
		if i >= len(line) {
			return false
		}
		switch line[i] {
		case ',':
			i++
		case '}':
			return i+1 == len(line)
		default:
			return false
		}
	}
}

// setString sets the string field named key (time and expires parsed as
// Time.UnmarshalJSON does); false for any other key, or a bad time.
func (r *Record) setString(key []byte, s string) bool {
	switch string(key) {
	case "time", "expires":
		t, ok := parseTime(s)
		if !ok {
			return false
		}
		if key[0] == 't' {
			r.Time = Time{t}
		} else {
			r.Expires = &Time{t}
		}
	case "session":
		r.Session = s
	case "event":
		r.Event = s
	case "result":
		r.Result = s
	case "error":
		r.Error = s
	case "reason":
		r.Reason = s
	case "remote":
		r.Remote = s
	case "client":
		r.Client = s
	case "user":
		r.User = s
	case "method":
		r.Method = s
	case "key_type":
		r.KeyType = s
	case "key_fp":
		r.KeyFP = s
	case "cert_id":
		r.CertID = s
	case "op":
		r.Op = s
	case "mode":
		r.Mode = s
	case "path":
		r.Path = s
	case "target":
		r.Target = s
	case "bucket":
		r.Bucket = s
	case "key":
		r.Key = s
	case "target_key":
		r.TargetKey = s
	case "sha256":
		r.SHA256 = s
	case "etag":
		r.ETag = s
	case "version_id":
		r.VersionID = s
	case "version":
		r.Version = s
	case "config_sha256":
		r.ConfigHash = s
	case "prev":
		r.Prev = s
	case "mac":
		r.MAC = s
	default:
		return false
	}
	return true
}

// setUint sets the numeric field named key; false for any other key.
func (r *Record) setUint(key []byte, n uint64) bool {
	i := int64(n) // flatUint stays below 1e18
	switch string(key) {
	case "seq":
		r.Seq = n
	case "bytes":
		r.Bytes = &i
	case "dur_ms":
		r.DurMS = &i
	case "bytes_in":
		r.BytesIn = &i
	case "bytes_out":
		r.BytesOut = &i
	case "count":
		r.Count = &i
	case "cert_serial":
		r.CertSerial = &n
	default:
		return false
	}
	return true
}

// flatKey reads the key at line[i:] as its raw bytes: known keys are plain
// ASCII, so ok is false for any escape or byte past it.
func flatKey(line []byte, i int) (key []byte, next int, ok bool) {
	if i >= len(line) || line[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(line); j++ {
		switch c := line[j]; {
		case c == '"':
			return line[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// flatString reads the JSON string at line[i:] (whole is line as a
// string): its value and the index after it. ok is false past the subset: an escape other than \" or \\, a
// control character, invalid UTF-8.
func flatString(line []byte, whole string, i int) (s string, next int, ok bool) {
	if i >= len(line) || line[i] != '"' {
		return "", 0, false
	}
	start, escaped, high := i+1, false, false
	// Most values are plain ASCII: find the closing quote at memchr speed
	// and check the bytes before it in one tight loop.
	if end := bytes.IndexByte(line[start:], '"'); end >= 0 {
		plain := true
		for _, c := range line[start : start+end] {
			if c < 0x20 || c == '\\' || c >= 0x80 {
				plain = false
				break
			}
		}
		if plain {
			return whole[start : start+end], start + end + 1, true
		}
	}
	for i = start; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			raw := line[start:i]
			if high && !utf8.Valid(raw) {
				return "", 0, false
			}
			if !escaped {
				return whole[start:i], i + 1, true
			}
			return unescape(raw), i + 1, true
		case c == '\\':
			if i+1 >= len(line) || line[i+1] != '"' && line[i+1] != '\\' {
				return "", 0, false
			}
			escaped = true
			i++
		case c < 0x20:
			return "", 0, false
		case c >= 0x80:
			high = true
		}
	}
	return "", 0, false
}

// unescape drops the backslash of each \" and \\ in raw.
func unescape(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' {
			i++
		}
		out = append(out, raw[i])
	}
	return string(out)
}

// flatUint reads the non-negative JSON integer at line[i:], of at most 18
// digits; ok is false for anything else (a sign, a fraction, an exponent,
// a leading zero, null).
func flatUint(line []byte, i int) (n uint64, next int, ok bool) {
	start := i
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		n = n*10 + uint64(line[i]-'0')
	}
	digits := i - start
	if digits == 0 || digits > 18 || digits > 1 && line[start] == '0' {
		return 0, 0, false
	}
	if i < len(line) && (line[i] == '.' || line[i] == 'e' || line[i] == 'E') {
		return 0, 0, false
	}
	return n, i, true
}

// parseTime is time.Parse(timeLayout, s) for a plain, in-range time; false
// for anything else, which then gets time.Parse's own answer.
func parseTime(s string) (time.Time, bool) {
	if len(s) != len(timeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	n := func(from, to int) int {
		v := 0
		for _, c := range []byte(s[from:to]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day, hour, minute, sec, ms := n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19), n(20, 23)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > 28 && day > daysIn(time.Month(month), year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 || ms < 0 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ms*1e6, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
