package report

import (
	"bufio"
	"encoding/csv"
	"strconv"
	"strings"
)

// csvFormat is one RFC 4180 table with a header row, for a spreadsheet:
// the first row after the header states the verification (kind
// "verification"), then one row per user summary (kind "summary"), then the
// activity (kind "activity"). A cell that a spreadsheet would run as a
// formula (starting with = + - @, a tab or a CR) is prefixed with ', since
// partners choose their file names.
type csvFormat struct {
	w   *csv.Writer
	rec []string
}

var csvHeader = []string{"kind", "time", "seq", "user", "key_fp", "cert_id", "remote", "client", "session", "op", "method",
	"path", "target", "bucket", "key", "size", "sha256", "version_id", "result", "reason", "dur_ms", "bytes_in", "bytes_out",
	"sessions", "failed_logins", "files_up", "bytes_up", "files_down", "bytes_down", "refusals", "bans"}

func newCSV(w *bufio.Writer) *csvFormat {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180
	return &csvFormat{w: cw, rec: make([]string, len(csvHeader))}
}

func (f *csvFormat) write(cells ...string) error {
	clear(f.rec)
	for i, c := range cells {
		f.rec[i] = defuse(c)
	}
	return f.w.Write(f.rec)
}

func (f *csvFormat) header(h *header) error {
	if err := f.w.Write(csvHeader); err != nil {
		return err
	}
	result := "ok"
	if !h.V.OK {
		result = "broken"
	}
	reason := h.V.Statement()
	if len(h.V.Notes) > 0 {
		reason += "; notes: " + strings.Join(h.V.Notes, "; ")
	}
	reason += "; rows: " + h.Filter + "; names: " + h.Names
	if err := f.write("verification", h.Generated.Format(rowTime), strconv.FormatUint(h.V.LastSeq, 10), "", "", "", "", "", "", "verify", "",
		"", "", "", "", "", "", "", result, reason); err != nil {
		return err
	}
	for _, s := range h.Summary {
		i := func(n int64) string { return strconv.FormatInt(n, 10) }
		cells := make([]string, len(csvHeader))
		cells[0], cells[3], cells[9] = "summary", s.User, "summary"
		copy(cells[23:], []string{i(s.Sessions), i(s.FailedLogins), i(s.FilesUp), i(s.BytesUp), i(s.FilesDown), i(s.BytesDown), i(s.Refusals), i(s.Bans)})
		if err := f.write(cells...); err != nil {
			return err
		}
	}
	return nil
}

func (f *csvFormat) row(r *Row) error {
	return f.write("activity", r.Time.Format(rowTime), strconv.FormatUint(r.Seq, 10), r.User, r.KeyFP, r.CertID, r.Remote, r.Client, r.Session,
		r.Op, r.Method, r.Path, r.Target, r.Bucket, r.Key, num(r.Size), r.SHA256, r.VersionID, r.Result, r.Reason,
		num(r.DurMS), num(r.BytesIn), num(r.BytesOut))
}

func (f *csvFormat) end() error {
	f.w.Flush()
	return f.w.Error()
}

// defuse keeps a spreadsheet from reading a cell as a formula.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
