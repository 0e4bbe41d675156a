package report

import (
	"bufio"
	"fmt"
	"html"
	"time"
)

// htmlFormat is one self-contained page: inline CSS (with print rules, so
// the browser's "print to PDF" gives a readable document), no script and
// nothing fetched; the chart is an SVG drawn here.
type htmlFormat struct{ w *bufio.Writer }

const htmlStyle = `body{font:13px/1.4 system-ui,sans-serif;color:#111;margin:24px}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 8px}
.verify{padding:8px 12px;border-radius:4px;font-weight:600}
.verify-ok{background:#e6f4ea;border:1px solid #1e8e3e}.verify-broken{background:#fce8e6;border:1px solid #d93025}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f1f3f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.h{font-family:ui-monospace,monospace;font-size:10px;word-break:break-all;min-width:9em}
#activity{font-size:11px}
tr.denied td,tr.error td,tr.aborted td{background:#fff4e5}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
@media print{body{margin:0;font-size:10px}table{font-size:9px}thead{display:table-header-group}tr{break-inside:avoid}
h2{break-after:avoid}.chart{break-inside:avoid}.verify{-webkit-print-color-adjust:exact;print-color-adjust:exact}}`

// palette colours the users of the chart, in turn.
var palette = []string{"#1a73e8", "#e8710a", "#188038", "#d93025", "#9334e6", "#12b5cb", "#f9ab00", "#5f6368", "#e52592", "#7cb342"}

func (f *htmlFormat) header(h *header) error {
	w := f.w
	class := "verify-ok"
	if !h.V.OK {
		class = "verify-broken"
	}
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>s3sftpd audit report %s</title>\n<style>%s</style></head><body>\n",
		h.Generated.Format(time.DateOnly), htmlStyle)
	fmt.Fprintf(w, "<h1>s3sftpd audit report</h1>\n<p>Generated %s. Rows: %s. Names: %s.</p>\n", h.Generated.Format(time.RFC3339), esc(h.Filter), esc(h.Names))
	fmt.Fprintf(w, "<p id=\"verification\" class=\"verify %s\">Verification: %s</p>\n", class, esc(h.V.Statement()))
	for _, n := range h.V.Notes {
		fmt.Fprintf(w, "<p class=\"note\">note: %s</p>\n", esc(n))
	}
	w.WriteString("<h2>Summary per user</h2>\n<table id=\"summary\"><thead><tr><th>User</th><th>Sessions</th><th>Failed logins</th><th>Files up</th><th>Bytes up</th><th>Files down</th><th>Bytes down</th><th>Refusals</th><th>Bans</th></tr></thead><tbody>\n")
	for _, s := range h.Summary {
		fmt.Fprintf(w, "<tr><td>%s</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td></tr>\n",
			esc(s.User), s.Sessions, s.FailedLogins, s.FilesUp, s.BytesUp, s.FilesDown, s.BytesDown, s.Refusals, s.Bans)
	}
	w.WriteString("</tbody></table>\n<h2>Files per day</h2>\n")
	f.chart(h)
	w.WriteString("<h2>Activity</h2>\n<table id=\"activity\"><thead><tr><th>Time (UTC)</th><th>User</th><th>Key / certificate</th><th>Remote / session</th><th>Operation</th><th>Path</th><th>Object</th><th>Size</th><th>SHA-256 / version</th><th>Result</th><th>Reason</th></tr></thead><tbody>\n")
	return nil
}

// chart draws the files of each day as one bar (class "bar", one per day
// with files), stacked by user.
func (f *htmlFormat) chart(h *header) {
	w := f.w
	if len(h.Days) == 0 {
		w.WriteString("<p>No files were uploaded or downloaded in range.</p>\n")
		return
	}
	colour := map[string]string{}
	w.WriteString("<p class=\"legend\">")
	for i, u := range h.Users {
		colour[u] = palette[i%len(palette)]
		fmt.Fprintf(w, "<span><i style=\"background:%s\"></i>%s</span>", colour[u], esc(u))
	}
	w.WriteString("</p>\n")
	var most int64
	for _, d := range h.Days {
		var n int64
		for _, c := range d.Files {
			n += c
		}
		most = max(most, n)
	}
	const plotH, left, bottom = 200.0, 48.0, 40.0
	barW := max(4.0, min(40.0, 900.0/float64(len(h.Days))))
	width := left + float64(len(h.Days))*(barW+2) + 10
	fmt.Fprintf(w, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"files per day per user\">\n",
		width, plotH+bottom+10, width, plotH+bottom+10)
	fmt.Fprintf(w, "<line x1=\"%.0f\" y1=\"10\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/><line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>\n",
		left, left, plotH+10, left, plotH+10, width, plotH+10)
	fmt.Fprintf(w, "<text x=\"%.0f\" y=\"16\" font-size=\"10\" text-anchor=\"end\">%d</text><text x=\"%.0f\" y=\"%.0f\" font-size=\"10\" text-anchor=\"end\">0</text>\n",
		left-4, most, left-4, plotH+10)
	labelEvery := max(1, len(h.Days)/20)
	for i, d := range h.Days {
		x := left + 2 + float64(i)*(barW+2)
		y := plotH + 10
		fmt.Fprintf(w, "<g class=\"bar\" data-date=\"%s\">", d.Date)
		for _, u := range h.Users {
			n := d.Files[u]
			if n == 0 {
				continue
			}
			bh := plotH * float64(n) / float64(most)
			y -= bh
			fmt.Fprintf(w, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %d files</title></rect>",
				x, y, barW, bh, colour[u], d.Date, esc(u), n)
		}
		w.WriteString("</g>\n")
		if i%labelEvery == 0 {
			fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"9\" transform=\"rotate(45 %.1f %.0f)\">%s</text>\n", x, plotH+22, x, plotH+22, d.Date[5:])
		}
	}
	w.WriteString("</svg>\n")
}

func (f *htmlFormat) row(r *Row) error {
	key := r.KeyFP
	if r.CertID != "" {
		key += " (cert " + r.CertID + ")"
	}
	path := r.Path
	if r.Target != "" {
		path += " → " + r.Target
	}
	object := ""
	if r.Bucket != "" || r.Key != "" {
		object = r.Bucket + "/" + r.Key
	}
	size := num(r.Size)
	if r.Op == "session" && r.BytesIn != nil && r.BytesOut != nil && r.DurMS != nil {
		size = fmt.Sprintf("%d in / %d out, %d ms", *r.BytesIn, *r.BytesOut, *r.DurMS)
	}
	op := r.Op
	if r.Method != "" {
		op += " (" + r.Method + ")"
	}
	where := r.Remote
	if r.Session != "" {
		where += " session " + r.Session
	}
	sum := r.SHA256
	if r.VersionID != "" {
		sum += " version " + r.VersionID
	}
	_, err := fmt.Fprintf(f.w, "<tr class=\"%s\"><td>%s</td><td>%s</td><td class=h>%s</td><td class=h>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=n>%s</td><td class=h>%s</td><td>%s</td><td>%s</td></tr>\n",
		esc(r.Result), r.Time.Format(rowTime), esc(r.User), esc(key), esc(where), esc(op), esc(path), esc(object),
		esc(size), esc(sum), esc(r.Result), esc(r.Reason))
	return err
}

func (f *htmlFormat) end() error {
	_, err := f.w.WriteString("</tbody></table>\n</body></html>\n")
	return err
}

func esc(s string) string { return html.EscapeString(s) }
