package audit

import (
	"bytes"
	"encoding/json"
	"time"
)

// Record is one audit event. Field names are the documented, stable JSON
// vocabulary of the audit trail; empty fields are left out. Log fills Time,
// Seq, Session, User, Prev and MAC; callers fill the rest.
type Record struct {
	Time    Time   `json:"time"`
	Seq     uint64 `json:"seq"`
	Session string `json:"session,omitempty"`
	Event   string `json:"event"`
	Result  string `json:"result,omitempty"`
	Error   string `json:"error,omitempty"`
	Reason  string `json:"reason,omitempty"`

	// Session events.
	Remote  string `json:"remote,omitempty"`
	Client  string `json:"client,omitempty"`
	User    string `json:"user,omitempty"`
	Method  string `json:"method,omitempty"`
	KeyType string `json:"key_type,omitempty"`
	KeyFP   string `json:"key_fp,omitempty"`
	// CertID and CertSerial name the user certificate of a login (its key
	// id and serial, as ssh-keygen -s -I and -z set them).
	CertID     string  `json:"cert_id,omitempty"`
	CertSerial *uint64 `json:"cert_serial,omitempty"`

	// File events. Path and Target are SFTP paths; Key and TargetKey the S3
	// object keys. With paths = "hmac" all four are keyed hashes.
	Op        string `json:"op,omitempty"`
	Mode      string `json:"mode,omitempty"`
	Path      string `json:"path,omitempty"`
	Target    string `json:"target,omitempty"`
	Bucket    string `json:"bucket,omitempty"`
	Key       string `json:"key,omitempty"`
	TargetKey string `json:"target_key,omitempty"`
	Bytes     *int64 `json:"bytes,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	DurMS     *int64 `json:"dur_ms,omitempty"`
	BytesIn   *int64 `json:"bytes_in,omitempty"`
	BytesOut  *int64 `json:"bytes_out,omitempty"`
	Expires   *Time  `json:"expires,omitempty"` // presign: when the URL stops working
	Count     *int64 `json:"count,omitempty"`   // unrecorded: how many denied records were left out
	// Scan and Signer are what an upload's content gates found: the
	// malware scan's verdict with clamd's versions ("clean ClamAV
	// 1.4.6/27000", "unscanned"), the fingerprint of the OpenPGP key that
	// signed a decrypted file.
	Scan   string `json:"scan,omitempty"`
	Signer string `json:"signer,omitempty"`

	// Server events.
	Version    string   `json:"version,omitempty"`
	ConfigHash string   `json:"config_sha256,omitempty"`
	Changes    []string `json:"changes,omitempty"`

	// Chain: Prev is the SHA-256 of the previous line, MAC the keyed hash of
	// this line without the MAC (only with hmac_key_file).
	Prev string `json:"prev"`
	MAC  string `json:"mac,omitempty"`
}

// Events.
const (
	EventConnect      = "connect"
	EventAuth         = "auth"
	EventDisconnect   = "disconnect"
	EventOpen         = "open"
	EventClose        = "close"
	EventList         = "list"
	EventMkdir        = "mkdir"
	EventRmdir        = "rmdir"
	EventRename       = "rename"
	EventRemove       = "remove"
	EventSetstat      = "setstat"
	EventChecksum     = "checksum" // a client's check-file request: Path, Key and the SHA-256 answered
	EventRefused      = "refused"
	EventUnrecorded   = "unrecorded" // Count denied records of the session left out by the rate limit (refusals.go)
	EventBan          = "ban"        // an address banned by the defender; Remote, Reason, DurMS the ban time
	EventUnban        = "unban"      // its ban expired
	EventServerStart  = "server_start"
	EventServerStop   = "server_stop"
	EventReload       = "reload"
	EventPresign      = "presign" // `s3sftpd presign` handed out a download URL
	EventCheckpoint   = "checkpoint"
	EventSegmentStart = "segment_start"
	EventSegmentEnd   = "segment_end"
)

// Results.
const (
	ResultOK      = "ok"
	ResultDenied  = "denied"
	ResultAborted = "aborted"
	ResultError   = "error"
)

// Int is a helper for the optional numeric fields.
func Int(n int64) *int64 { return &n }

// Since is the milliseconds elapsed since start, for DurMS.
func Since(start time.Time) *int64 { return Int(time.Since(start).Milliseconds()) }

// Time is a UTC timestamp written as RFC 3339 with milliseconds.
type Time struct{ time.Time }

const timeLayout = "2006-01-02T15:04:05.000Z"

func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(timeLayout) + `"`), nil
}

func (t *Time) UnmarshalJSON(b []byte) error {
	// A time as Log writes it needs no unquoting: skip the second decoder
	// Verify and reports would otherwise run on every record.
	var s string
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		s = string(b[1 : n-1])
	} else if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(timeLayout, s)
	t.Time = v
	return err
}
