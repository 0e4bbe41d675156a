// Package report turns a verified audit trail into the activity report a
// compliance officer hands an auditor: the verification result first, a
// summary per user, a chart of files per day, then one row per file
// operation, login attempt and session, as text, CSV, JSON or one
// self-contained HTML page.
//
// It reads records only through audit.Verify, so every row it prints is one
// the chain vouches for; on a break it prints what precedes it and says
// where the chain breaks. It streams: the trail is read twice (once for the
// summary at the top, once for the rows) and never held in memory, so its
// memory is bounded by the users, days and open sessions, not the records.
// It never talks to S3 and never writes a file (it reads the trail's): resolved names come in as
// Options.Names, and the output goes to the writer it is given.
package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// Formats.
const (
	FormatText = "text"
	FormatCSV  = "csv"
	FormatJSON = "json"
	FormatHTML = "html"
)

// Formats lists the formats Write knows, for usage text and flag checks.
var Formats = []string{FormatText, FormatCSV, FormatJSON, FormatHTML}

// Trail is the trail to report on. Open is called once per pass and must
// return the same files each time (the live file and segments, in any
// order); close releases them.
type Trail struct {
	Open   func() (inputs []audit.VerifyInput, close func(), err error)
	Verify audit.VerifyOptions // HMAC key and checkpoints; Each is the report's
}

// Options choose what the report shows.
type Options struct {
	Format string
	Users  []string  // only these users' rows and summaries; none = everyone
	Since  time.Time // rows at or after; zero = from the start
	Until  time.Time // rows before; zero = to the end
	// Names maps hashed names ("hmac:…", paths = "hmac") to the real names
	// found in S3 (-resolve-names). Nil: names are shown as the trail has them.
	Names map[string]string
	Now   func() time.Time // the "generated at" time; nil = time.Now
}

// Verification is what audit.Verify found, stated at the top of every format.
type Verification struct {
	OK            bool     `json:"ok"`
	Records       int      `json:"records"` // records in the chain (up to the break, if any)
	FirstSeq      uint64   `json:"first_seq"`
	LastSeq       uint64   `json:"last_seq"`
	Files         int      `json:"files"`
	MACChecked    bool     `json:"mac_checked"`
	Checkpoints   int      `json:"checkpoints_given"`
	CheckpointSeq uint64   `json:"checkpoint_seq,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	// Break is where and why the chain breaks ("FILE:LINE: seq N: problem");
	// the report holds only the records before it.
	Break string `json:"break,omitempty"`
}

// Statement is the verification as one line, in audit verify's words.
func (v Verification) Statement() string {
	if !v.OK {
		return fmt.Sprintf("BROKEN: %s (the report holds the %d records before it, seq %d..%d)", v.Break, v.Records, v.FirstSeq, v.LastSeq)
	}
	parts := []string{fmt.Sprintf("OK: %d records, seq %d..%d", v.Records, v.FirstSeq, v.LastSeq)}
	if v.FirstSeq > 1 {
		parts[0] += fmt.Sprintf(" (records before seq %d not given)", v.FirstSeq)
	}
	files := "files"
	if v.Files == 1 {
		files = "file"
	}
	parts = append(parts, fmt.Sprintf("%d %s", v.Files, files))
	if v.MACChecked {
		parts = append(parts, "MAC verified")
	} else {
		parts = append(parts, "MAC not checked (no -hmac-key-file)")
	}
	switch {
	case v.CheckpointSeq > 0:
		parts = append(parts, fmt.Sprintf("checkpoint seq %d found", v.CheckpointSeq))
	case v.Checkpoints > 0:
		parts = append(parts, "checkpoint precedes the records given: tail truncation not checked")
	default:
		parts = append(parts, "no checkpoint file: tail truncation not checked")
	}
	return strings.Join(parts, ", ")
}

// header is what every format prints before the rows.
type header struct {
	Generated time.Time
	V         Verification
	Filter    string // the filters in force, in words
	Names     string // how names are shown
	Summary   []*UserSummary
	Days      []Day
	Users     []string // the users of the chart, sorted
}

// format writes one report: the header, then the rows as they stream.
type format interface {
	header(h *header) error
	row(r *Row) error
	end() error
}

// Write verifies the trail and writes the report to w. The Verification
// says whether the chain held (the caller exits 1 when it did not); the
// error is non-nil only when the trail could not be read or w written.
func Write(w io.Writer, t Trail, o Options) (Verification, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var f format
	switch o.Format {
	case FormatText, "":
		f = &textFormat{w: bw}
	case FormatCSV:
		f = newCSV(bw)
	case FormatJSON:
		f = &jsonFormat{w: bw}
	case FormatHTML:
		f = &htmlFormat{w: bw}
	default:
		return Verification{}, fmt.Errorf("unknown format %q: want one of %s", o.Format, strings.Join(Formats, ", "))
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}

	// Pass 1: verify, and sum up per user and per day.
	sum := newTracker(o)
	v, err := verify(t, func(r *audit.Record) error {
		sum.add(r, nil)
		sum.last = *r
		return nil
	})
	if err != nil {
		return v, err
	}
	h := &header{Generated: now().UTC(), V: v, Filter: describeFilter(o), Names: sum.namesNote()}
	h.Summary, h.Days, h.Users = sum.results()
	if err := f.header(h); err != nil {
		return v, err
	}

	// Pass 2: the rows, up to the same break. Pass 1 checked the MACs; the
	// hash chain, checked again, ties every line before the last record to
	// what pass 1 saw, and the last record is compared whole.
	rows := newTracker(o)
	var werr error
	var n int
	var last audit.Record
	again := t
	again.Verify.HMACKey = nil
	_, err = verify(again, func(r *audit.Record) error {
		if n++; n > v.Records {
			return errEnough
		}
		if n == v.Records {
			last = *r
		}
		rows.add(r, func(row *Row) {
			if werr == nil {
				werr = f.row(row)
			}
		})
		return werr
	})
	switch {
	case werr != nil:
		return v, werr
	case err != nil && !errors.Is(err, errEnough):
		return v, err
	case n < v.Records || !reflect.DeepEqual(last, sum.last):
		return v, errors.New("the trail changed while the report was written: run it again on a copy that is not being written")
	}
	if err := f.end(); err != nil {
		return v, err
	}
	return v, bw.Flush()
}

// errEnough stops the second pass at the record the first one ended with.
var errEnough = errors.New("enough records")

// OpenFiles is a Trail's Open for files on disk: it opens them afresh for
// each pass.
func OpenFiles(names []string) func() ([]audit.VerifyInput, func(), error) {
	return func() ([]audit.VerifyInput, func(), error) {
		var files []*os.File
		closeAll := func() {
			for _, f := range files {
				f.Close()
			}
		}
		var inputs []audit.VerifyInput
		for _, name := range names {
			f, err := os.Open(name)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("open audit file: %w", err)
			}
			files = append(files, f)
			inputs = append(inputs, audit.VerifyInput{Name: name, R: f})
		}
		return inputs, closeAll, nil
	}
}

// verify runs audit.Verify over a fresh opening of the trail with each.
func verify(t Trail, each func(*audit.Record) error) (Verification, error) {
	inputs, closeAll, err := t.Open()
	if err != nil {
		return Verification{}, err
	}
	defer closeAll()
	opts := t.Verify
	v := Verification{Files: len(inputs), MACChecked: len(opts.HMACKey) > 0, Checkpoints: len(opts.Checkpoints)}
	opts.Each = func(r *audit.Record) error {
		if v.Records == 0 {
			v.FirstSeq = r.Seq
		}
		v.Records++
		v.LastSeq = r.Seq
		return each(r)
	}
	rep, err := audit.Verify(inputs, opts)
	var broken *audit.VerifyError
	switch {
	case errors.As(err, &broken):
		v.Break = broken.Error()
		return v, nil
	case err != nil:
		return v, err
	}
	v.OK, v.CheckpointSeq, v.Notes = true, rep.CheckpointSeq, rep.Notes
	return v, nil
}

// describeFilter says which rows the report holds.
func describeFilter(o Options) string {
	var parts []string
	if len(o.Users) > 0 {
		parts = append(parts, "users "+strings.Join(slices.Sorted(slices.Values(o.Users)), ", "))
	}
	if !o.Since.IsZero() {
		parts = append(parts, "from "+o.Since.UTC().Format(time.RFC3339))
	}
	if !o.Until.IsZero() {
		parts = append(parts, "until "+o.Until.UTC().Format(time.RFC3339)+" (excluded)")
	}
	if len(parts) == 0 {
		return "all users, the whole trail"
	}
	return strings.Join(parts, "; ")
}

// ParseTime reads a -since or -until value: RFC 3339, or a date (UTC midnight).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-10-01T00:00:00Z) or a date (2026-10-01)", s)
}
