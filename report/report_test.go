package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// trail writes a small trail through the audit package: acme logs in on two
// days and uploads, downloads, is refused a list; an upload of bob's is
// aborted; a stranger fails to log in. It returns the trail's file.
func trail(t *testing.T, key []byte, hashPaths bool) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	now := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	l, err := audit.Open(audit.Config{File: file, HMACKey: key, HashPaths: hashPaths, Now: func() time.Time { now = now.Add(time.Second); return now }})
	if err != nil {
		t.Fatal(err)
	}
	l.Write(audit.Record{Event: audit.EventServerStart, Result: audit.ResultOK, Version: "test"})
	session := func(id, user, remote string, recs ...audit.Record) {
		s := l.Session(id)
		s.Record(audit.Record{Event: audit.EventConnect, Result: audit.ResultOK, Remote: remote, Client: "SSH-2.0-OpenSSH_9.2p1"})
		s.Record(audit.Record{Event: audit.EventAuth, Result: audit.ResultOK, User: user, Method: "publickey", KeyFP: "SHA256:" + user})
		s = s.WithUser(user)
		for _, r := range recs {
			if err := s.Record(r); err != nil {
				t.Fatal(err)
			}
		}
		s.Record(audit.Record{Event: audit.EventDisconnect, Result: audit.ResultOK, Reason: "connection closed", DurMS: audit.Int(5), BytesIn: audit.Int(10), BytesOut: audit.Int(20)})
	}
	up := func(path string, n int64, result string) audit.Record {
		r := audit.Record{Event: audit.EventClose, Result: result, Mode: "write", Path: path, Bucket: "b", Key: "home" + path, Bytes: audit.Int(n)}
		if result == audit.ResultOK {
			r.SHA256 = strings.Repeat("ab", 32)
		}
		return r
	}
	session("s1", "acme", "192.0.2.1:1000", up("/a.csv", 100, audit.ResultOK),
		audit.Record{Event: audit.EventClose, Result: audit.ResultOK, Mode: "read", Path: "/a.csv", Bucket: "b", Key: "home/a.csv", Bytes: audit.Int(100)},
		audit.Record{Event: audit.EventList, Result: audit.ResultDenied, Reason: "permission", Error: "listing refused: write-only folder", Path: "/"})
	session("s2", "bob", "192.0.2.2:1000", up("/=big.bin", 5000, audit.ResultAborted))
	s := l.Session("s3")
	s.Record(audit.Record{Event: audit.EventConnect, Result: audit.ResultOK, Remote: "198.51.100.7:999"})
	s.Record(audit.Record{Event: audit.EventAuth, Result: audit.ResultDenied, User: "=1+1", Method: "password", Reason: "unknown user or wrong password"})
	s.Record(audit.Record{Event: audit.EventDisconnect, Result: audit.ResultOK, Reason: "authentication failed"})
	l.Write(audit.Record{Event: audit.EventBan, Result: audit.ResultDenied, Remote: "198.51.100.7", Reason: "5 failed logins"})
	now = now.Add(24 * time.Hour)
	session("s4", "acme", "192.0.2.1:1001", up("/b.csv", 7, audit.ResultOK))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

func run(t *testing.T, file string, o Options, vo audit.VerifyOptions) (string, Verification) {
	t.Helper()
	o.Now = func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
	tr := Trail{Verify: vo, Open: func() ([]audit.VerifyInput, func(), error) {
		f, err := os.Open(file)
		if err != nil {
			return nil, nil, err
		}
		return []audit.VerifyInput{{Name: filepath.Base(file), R: f}}, func() { f.Close() }, nil
	}}
	var out bytes.Buffer
	v, err := Write(&out, tr, o)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), v
}

func TestWrite_CSV(t *testing.T) {
	out, v := run(t, trail(t, nil, false), Options{Format: FormatCSV}, audit.VerifyOptions{})
	if !v.OK {
		t.Fatalf("verification = %+v; want OK", v)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, out)
	}
	if !strings.Contains(out, "\r\n") {
		t.Errorf("CSV lines end in LF; RFC 4180 wants CRLF")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if got := rows[1][col["kind"]]; got != "verification" || !strings.HasPrefix(rows[1][col["reason"]], "OK: ") {
		t.Errorf("first row = %q; want the verification, OK", rows[1])
	}
	var ops []string
	var summary []string
	for _, r := range rows[2:] {
		switch r[col["kind"]] {
		case "summary":
			summary = append(summary, strings.TrimPrefix(r[col["user"]], "'")+":"+r[col["files_up"]]+"/"+r[col["refusals"]]+"/"+r[col["bans"]]+"/"+r[col["failed_logins"]])
		case "activity":
			ops = append(ops, r[col["user"]]+" "+r[col["op"]]+" "+r[col["path"]]+" "+r[col["result"]])
		}
	}
	want := []string{"acme login  ok", "acme upload /a.csv ok", "acme download /a.csv ok", "acme list / denied", "acme session  ok",
		"bob login  ok", "bob upload /=big.bin aborted", "bob session  ok", "'=1+1 login  denied", "'=1+1 session  ok", " ban  denied",
		"acme login  ok", "acme upload /b.csv ok", "acme session  ok"}
	if got := strings.Join(ops, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("activity rows:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if got, want := strings.Join(summary, " "), "=1+1:0/0/1/1 acme:2/1/0/0 bob:0/0/0/0"; got != want {
		t.Errorf("summary (files up/refusals/bans/failed) = %s; want %s", got, want)
	}
}

func TestWrite_JSONIsOneDocument(t *testing.T) {
	out, _ := run(t, trail(t, nil, false), Options{Format: FormatJSON, Users: []string{"acme"}}, audit.VerifyOptions{})
	var doc struct {
		Verification Verification
		Summary      []UserSummary
		Days         []Day `json:"files_per_day"`
		Rows         []Row
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if !doc.Verification.OK || doc.Verification.Records == 0 {
		t.Errorf("verification = %+v; want OK with records", doc.Verification)
	}
	if len(doc.Summary) != 1 || doc.Summary[0].User != "acme" || doc.Summary[0].Sessions != 2 || doc.Summary[0].FilesDown != 1 {
		t.Errorf("summary = %+v; want acme alone, 2 sessions, 1 file down", doc.Summary)
	}
	if len(doc.Days) != 2 || doc.Days[0].Files["acme"] != 2 || doc.Days[1].Files["acme"] != 1 {
		t.Errorf("files per day = %+v; want 2 then 1", doc.Days)
	}
	for _, r := range doc.Rows {
		if r.User != "acme" {
			t.Errorf("row of %q in a report for acme: %+v", r.User, r)
		}
		if r.Op == "upload" && (r.Remote != "192.0.2.1:1000" && r.Remote != "192.0.2.1:1001" || r.KeyFP != "SHA256:acme" || r.SHA256 == "") {
			t.Errorf("upload row lacks its session's remote, key or checksum: %+v", r)
		}
	}
}

func TestWrite_SinceUntil(t *testing.T) {
	since := time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC)
	out, _ := run(t, trail(t, nil, false), Options{Format: FormatText, Since: since}, audit.VerifyOptions{})
	if strings.Contains(out, "/a.csv") || !strings.Contains(out, "/b.csv") {
		t.Errorf("-since 2026-10-02 report holds the wrong days:\n%s", out)
	}
	out, _ = run(t, trail(t, nil, false), Options{Format: FormatText, Until: since}, audit.VerifyOptions{})
	if !strings.Contains(out, "/a.csv") || strings.Contains(out, "/b.csv") {
		t.Errorf("-until 2026-10-02 report holds the wrong days:\n%s", out)
	}
}

func TestWrite_HTMLChartHasABarPerDay(t *testing.T) {
	out, _ := run(t, trail(t, nil, false), Options{Format: FormatHTML}, audit.VerifyOptions{})
	bars := regexp.MustCompile(`<g class="bar" data-date="([0-9-]+)">(.*?)</g>`).FindAllStringSubmatch(out, -1)
	if len(bars) != 2 || bars[0][1] != "2026-10-01" || bars[1][1] != "2026-10-02" {
		t.Fatalf("chart bars = %q; want one for each of 2026-10-01 and 2026-10-02", bars)
	}
	if n := strings.Count(bars[0][2], "<rect"); n != 1 {
		t.Errorf("first day's bar has %d segments; want 1 (acme; bob's upload aborted)", n)
	}
	for _, banned := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(out, banned) {
			t.Errorf("page holds %q: it must be self-contained, with no script", banned)
		}
	}
	if !strings.Contains(out, "@media print") || !strings.Contains(out, `class="verify verify-ok"`) {
		t.Errorf("page lacks its print rules or the verification banner")
	}
}

func TestWrite_BrokenChainReportsWhatPrecedes(t *testing.T) {
	file := trail(t, nil, false)
	data, _ := os.ReadFile(file)
	lines := strings.Split(string(data), "\n")
	lines[9] = strings.Replace(lines[9], `"time":"2026-10-01`, `"time":"2026-10-03`, 1) // seq 10
	os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600)
	for _, f := range Formats {
		out, v := run(t, file, Options{Format: f}, audit.VerifyOptions{})
		if v.OK || !strings.Contains(v.Break, "audit.jsonl:11: seq 11") {
			t.Errorf("%s: verification = %+v; want broken at audit.jsonl:11 (the line after the edit)", f, v)
		}
		if first := strings.Index(out, "BROKEN: audit.jsonl:11"); first < 0 || first > strings.Index(strings.ToLower(out), "summary") {
			t.Errorf("%s: the break is not stated at the top:\n%.1500s", f, out)
		}
		if !strings.Contains(out, "/a.csv") || strings.Contains(out, "/b.csv") {
			t.Errorf("%s: want the rows before the break (/a.csv) and none after (/b.csv):\n%s", f, out)
		}
	}
}

func TestWrite_ResolvesHashedNames(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	file := trail(t, key, true)
	names := map[string]string{audit.HashName(key, "/a.csv"): "/a.csv", audit.HashName(key, "home/a.csv"): "home/a.csv"}
	out, v := run(t, file, Options{Format: FormatText, Names: names}, audit.VerifyOptions{HMACKey: key})
	if !v.OK || !v.MACChecked {
		t.Fatalf("verification = %+v; want OK with MACs", v)
	}
	if !strings.Contains(out, " /a.csv ") || !strings.Contains(out, "object=b/home/a.csv") {
		t.Errorf("the name still in S3 is not shown:\n%s", out)
	}
	if strings.Contains(out, "/b.csv") || !strings.Contains(out, "hmac:") || !strings.Contains(out, "stay hashed") {
		t.Errorf("a name not in S3 must stay hashed, and the report say so:\n%s", out)
	}
}
