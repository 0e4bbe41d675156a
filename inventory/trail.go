package inventory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// maxLine bounds one trail line: records are bounded far below it (a few
// KB), so a longer line is damage and is skipped, not buffered.
const maxLine = 1 << 20

// Trail says what was read of the audit trail, so the report shows what
// its last logins rest on.
type Trail struct {
	Files   []string `json:"files"`
	Records int64    `json:"records"`
	// Skipped counts lines that were not records (torn or damaged);
	// `s3sftpd audit verify` says where.
	Skipped int64 `json:"skipped"`
	// First and Last are the times of the oldest and newest record read.
	First *time.Time `json:"first,omitempty"`
	Last  *time.Time `json:"last,omitempty"`
}

// Usage is the last successful login of each key and user in the trail
// files read so far. Files may come in any order.
type Usage struct {
	Trail Trail

	keys  map[userKey]*Use // (user, fingerprint) → last login with it
	users map[string]*Use  // user → last login by any method

	// Per file, the sessions whose connect was seen (their remote
	// address) and whose key passed before a password (partial success);
	// dropped at disconnect, so they hold only sessions open at the end.
	remote  map[string]string
	partial map[string]sessionRecord

	first, last []byte // the file's oldest and newest record time, as written
}

type userKey struct{ user, fp string }

// NewUsage starts with no logins seen.
func NewUsage() *Usage {
	return &Usage{keys: map[userKey]*Use{}, users: map[string]*Use{}}
}

// sessionRecord holds the fields of a record the inventory reads.
type sessionRecord struct {
	Time    time.Time `json:"time"`
	Session string    `json:"session"`
	Event   string    `json:"event"`
	Result  string    `json:"result"`
	Reason  string    `json:"reason"`
	Remote  string    `json:"remote"`
	User    string    `json:"user"`
	Method  string    `json:"method"`
	KeyFP   string    `json:"key_fp"`
	CertID  string    `json:"cert_id"`
}

// Read streams one trail file (the live file, a segment, or its S3 copy),
// line by line, keeping only the last login per key and user. It does not
// verify the chain: `s3sftpd audit verify` does.
func (u *Usage) Read(name string, r io.Reader) error {
	u.Trail.Files = append(u.Trail.Files, name)
	u.remote, u.partial = map[string]string{}, map[string]sessionRecord{}
	u.first, u.last = nil, nil
	defer u.span()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			u.line(line)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
}

// readLine returns the next line without its newline; a line longer than
// maxLine comes back as one byte that is no record, its rest discarded.
func readLine(br *bufio.Reader) ([]byte, error) {
	var long []byte
	for {
		frag, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if len(long) <= maxLine {
				long = append(long, frag...)
			}
			continue
		case long != nil:
			long = append(long, frag...)
			if len(long) > maxLine {
				return []byte{'!'}, err
			}
			return bytes.TrimRight(long, "\r\n"), err
		}
		return bytes.TrimRight(frag, "\r\n"), err
	}
}

// Session events are the only ones read; the filter skips the JSON
// decoding of every file record.
var (
	eventField    = []byte(`"event":"`)
	sessionEvents = [][]byte{[]byte(audit.EventConnect + `"`), []byte(audit.EventAuth + `"`), []byte(audit.EventDisconnect + `"`)}
)

func (u *Usage) line(line []byte) {
	if line[0] != '{' {
		u.Trail.Skipped++
		return
	}
	u.Trail.Records++
	u.seen(line)
	i := bytes.Index(line, eventField)
	if i < 0 {
		return
	}
	rest := line[i+len(eventField):]
	session := false
	for _, ev := range sessionEvents {
		session = session || bytes.HasPrefix(rest, ev)
	}
	if !session {
		return
	}
	var r sessionRecord
	if err := json.Unmarshal(line, &r); err != nil {
		u.Trail.Records--
		u.Trail.Skipped++
		return
	}
	switch r.Event {
	case audit.EventConnect:
		u.remote[r.Session] = r.Remote
	case audit.EventDisconnect:
		delete(u.remote, r.Session)
		delete(u.partial, r.Session)
	case audit.EventAuth:
		if r.Result != audit.ResultOK || r.User == "" {
			return
		}
		if strings.HasPrefix(r.Reason, "partial success") { // the key passed; the login needs the password next
			u.partial[r.Session] = r
			return
		}
		fp, cert, method := r.KeyFP, r.CertID, r.Method
		if first, ok := u.partial[r.Session]; ok && fp == "" && first.User == r.User {
			fp, cert, method = first.KeyFP, first.CertID, first.Method+"+"+method
		}
		use := &Use{Time: r.Time.UTC(), Remote: u.remote[r.Session], Method: method, KeyFP: fp, CertID: cert}
		if later(use, u.users[r.User]) {
			u.users[r.User] = use
		}
		if fp != "" && cert == "" { // a certificate's key is not a listed key
			k := userKey{r.User, fp}
			if later(use, u.keys[k]) {
				u.keys[k] = &Use{Time: use.Time, Remote: use.Remote, Method: use.Method}
			}
		}
	}
}

// timePrefix starts every record: the audit package writes time first,
// as 2006-01-02T15:04:05.000Z, which sorts as text.
var timePrefix = []byte(`{"time":"`)

const timeLen = len("2006-01-02T15:04:05.000Z")

// seen widens the span of the file's times by the record's, comparing the
// text; Read parses the two ends once.
func (u *Usage) seen(line []byte) {
	rest, ok := bytes.CutPrefix(line, timePrefix)
	if !ok || len(rest) <= timeLen || rest[timeLen] != '"' || rest[timeLen-1] != 'Z' {
		return
	}
	t := rest[:timeLen]
	if u.first == nil || bytes.Compare(t, u.first) < 0 {
		u.first = append(u.first[:0], t...)
	}
	if u.last == nil || bytes.Compare(t, u.last) > 0 {
		u.last = append(u.last[:0], t...)
	}
}

// span sets the trail's first and last times from the text seen.
func (u *Usage) span() {
	if t, err := time.Parse(time.RFC3339, string(u.first)); err == nil && (u.Trail.First == nil || t.Before(*u.Trail.First)) {
		u.Trail.First = &t
	}
	if t, err := time.Parse(time.RFC3339, string(u.last)); err == nil && (u.Trail.Last == nil || t.After(*u.Trail.Last)) {
		u.Trail.Last = &t
	}
}

func later(a, b *Use) bool { return b == nil || a.Time.After(b.Time) }
