package report

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// textFormat is a table for a terminal: fixed columns, so rows stream
// without measuring the whole trail first; the details of a row follow its
// path as name=value pairs.
type textFormat struct{ w *bufio.Writer }

// textRowFormat is the heading's layout; row writes rows to match it.
const textRowFormat = "%-24s %-16s %-10s %-8s %12s  %s%s\n"

func (f *textFormat) header(h *header) error {
	w := f.w
	fmt.Fprintf(w, "s3sftpd audit report, generated %s\n", h.Generated.Format(time.RFC3339))
	fmt.Fprintf(w, "Verification: %s\n", h.V.Statement())
	for _, n := range h.V.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	fmt.Fprintf(w, "Rows: %s\nNames: %s\n\n", h.Filter, h.Names)
	fmt.Fprintf(w, "Summary per user\n%-16s %8s %8s %8s %14s %8s %14s %8s %6s\n",
		"USER", "SESSIONS", "FAILED", "FILES UP", "BYTES UP", "FILES DN", "BYTES DOWN", "REFUSED", "BANS")
	for _, s := range h.Summary {
		fmt.Fprintf(w, "%-16s %8d %8d %8d %14d %8d %14d %8d %6d\n",
			s.User, s.Sessions, s.FailedLogins, s.FilesUp, s.BytesUp, s.FilesDown, s.BytesDown, s.Refusals, s.Bans)
	}
	if len(h.Summary) == 0 {
		fmt.Fprintln(w, "(no activity in range)")
	}
	fmt.Fprintf(w, "\nFiles per day (uploads stored and downloads completed)\n")
	for _, d := range h.Days {
		var parts []string
		for _, u := range h.Users {
			if n := d.Files[u]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", u, n))
			}
		}
		fmt.Fprintf(w, "%s  %s\n", d.Date, strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "\nActivity\n"+textRowFormat, "TIME", "USER", "OP", "RESULT", "SIZE", "PATH", "  DETAILS")
	return nil
}

func (f *textFormat) row(r *Row) error {
	w := f.w
	w.WriteString(r.Time.Format(rowTime))
	w.WriteByte(' ')
	pad(w, orDash(r.User), 16)
	pad(w, r.Op, 10)
	pad(w, r.Result, 8)
	size := num(r.Size)
	for range 12 - len(size) {
		w.WriteByte(' ')
	}
	w.WriteString(size)
	w.WriteString("  ")
	w.WriteString(orDash(r.Path))
	sep := "  " // between the path and the details, then one space
	detail := func(k, v string) {
		if v != "" {
			w.WriteString(sep)
			w.WriteString(k)
			w.WriteByte('=')
			w.WriteString(v)
			sep = " "
		}
	}
	detail("target", r.Target)
	if r.Bucket != "" || r.Key != "" {
		detail("object", r.Bucket+"/"+r.Key)
	}
	detail("sha256", r.SHA256)
	detail("version", r.VersionID)
	detail("reason", r.Reason)
	detail("remote", r.Remote)
	detail("method", r.Method)
	detail("key", r.KeyFP)
	detail("cert", r.CertID)
	detail("client", r.Client)
	detail("session", r.Session)
	detail("dur_ms", num(r.DurMS))
	detail("bytes_in", num(r.BytesIn))
	detail("bytes_out", num(r.BytesOut))
	return w.WriteByte('\n')
}

// pad writes s and spaces up to width, then one more.
func pad(w *bufio.Writer, s string, width int) {
	w.WriteString(s)
	for range width - len(s) + 1 {
		w.WriteByte(' ')
	}
}

func (f *textFormat) end() error { return nil }

// rowTime is RFC 3339 in UTC with milliseconds, as the trail writes it.
const rowTime = "2006-01-02T15:04:05.000Z"

func num(n *int64) string {
	if n == nil {
		return ""
	}
	return strconv.FormatInt(*n, 10)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
