package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_AuditReport: real OpenSSH sftp and psftp sessions against the
// gateway on versitygw leave a trail whose report shows what happened: the
// upload with the checksum sha256sum computes, the drop box's refused ls,
// the killed upload as aborted; the CSV parses with Python's csv module; the
// HTML page renders in headless Chromium with one bar per day; and a
// tampered trail gives a report that says where it breaks, and exits 1.
func TestE2E_AuditReport(t *testing.T) {
	s3srv := s3test.Start(t)
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	hmacKey := make([]byte, 32)
	rand.Read(hmacKey)
	if err := os.WriteFile(keyFile, hmacKey, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, s3srv, gatewayOpts{audit: fmt.Sprintf("hmac_key_file = %q", keyFile)})
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	writeRandom(t, filepath.Join(dir, "labs.csv"), 6<<20+3)
	g.mustSFTP(t, dir, "acme", key, "put labs.csv\nget labs.csv back.csv\n")
	writeRandom(t, filepath.Join(dir, "in.csv"), 2000)
	script := filepath.Join(dir, "batch")
	os.WriteFile(script, []byte("put in.csv\nls\n"), 0o600)
	if out, err := runClient(dir, nil, "psftp", "-batch", "-b", script, "-P", g.port, "-i", puttyKey(t),
		"-hostkey", "SHA256:"+g.hostKeySHA256(t), "drop@127.0.0.1"); err == nil || !strings.Contains(out, "denied") {
		t.Fatalf("psftp ls of the drop box: %v; want it refused:\n%s", err, out)
	}
	killedUpload(t, g, dir, key)
	g.stop(t)
	trail, _ := filepath.Glob(filepath.Join(filepath.Dir(g.auditFile()), "audit*.jsonl"))

	// CSV, read back by Python's csv module.
	out := filepath.Join(t.TempDir(), "report.csv")
	if stdout, stderr, code := runToolCode(t, s3srv, append([]string{"audit", "report", "-hmac-key-file", keyFile, "-format", "csv", "-o", out}, trail...)...); code != 0 {
		t.Fatalf("audit report: exit %d\n%s%s", code, stdout, stderr)
	}
	py := exec.Command("/usr/bin/python3", "-c", "import csv, json, sys\nprint(json.dumps(list(csv.DictReader(open(sys.argv[1], newline='')))))", out)
	pyOut, err := py.Output()
	if err != nil {
		t.Fatalf("python3 csv: %v", err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(pyOut, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 5 || rows[0]["kind"] != "verification" || rows[0]["result"] != "ok" ||
		!strings.HasPrefix(rows[0]["reason"], "OK: ") || !strings.Contains(rows[0]["reason"], "MAC verified") || !strings.Contains(rows[0]["reason"], "checkpoint seq") {
		t.Fatalf("first CSV row = %v; want the verification: OK, MAC verified, checkpoint found", rows[0])
	}
	find := func(what string, match func(map[string]string) bool) map[string]string {
		t.Helper()
		for _, r := range rows {
			if r["kind"] == "activity" && match(r) {
				return r
			}
		}
		t.Fatalf("no row for %s in the report:\n%s", what, pyOut)
		return nil
	}
	up := find("the upload", func(r map[string]string) bool {
		return r["op"] == "upload" && r["path"] == "/labs.csv" && r["result"] == "ok"
	})
	if want := toolOutput(t, 0, "sha256sum", filepath.Join(dir, "labs.csv")); up["sha256"] != want {
		t.Errorf("upload row sha256 = %q; want sha256sum's %q", up["sha256"], want)
	}
	wantFP := toolOutput(t, 1, "ssh-keygen", "-lf", key+".pub")
	if up["user"] != "acme" || up["key_fp"] != wantFP || !strings.HasPrefix(up["remote"], "127.0.0.1:") || up["size"] != fmt.Sprint(6<<20+3) ||
		up["key"] != "partners/acme/labs.csv" || up["bucket"] != s3srv.Bucket {
		t.Errorf("upload row = %v; want acme's, with key %s, from 127.0.0.1, %d bytes, at partners/acme/labs.csv", up, wantFP, 6<<20+3)
	}
	find("the download", func(r map[string]string) bool {
		return r["op"] == "download" && r["path"] == "/labs.csv" && r["sha256"] == up["sha256"]
	})
	ls := find("the drop box's ls", func(r map[string]string) bool { return r["user"] == "drop" && r["op"] == "list" })
	if ls["result"] != "denied" || !strings.Contains(ls["client"], "PuTTY") || ls["reason"] == "" {
		t.Errorf("drop box ls row = %v; want denied, from psftp (PuTTY), with the reason", ls)
	}
	find("psftp's upload", func(r map[string]string) bool {
		return r["user"] == "drop" && r["op"] == "upload" && r["result"] == "ok"
	})
	find("the killed upload", func(r map[string]string) bool {
		return r["op"] == "upload" && r["path"] == "/big.bin" && r["result"] == "aborted"
	})
	find("acme's session", func(r map[string]string) bool {
		return r["op"] == "session" && r["user"] == "acme" && r["bytes_in"] != ""
	})
	days := map[string]bool{}
	for _, r := range rows {
		if r["kind"] == "activity" && (r["op"] == "upload" || r["op"] == "download") && r["result"] == "ok" {
			days[r["time"][:10]] = true
		}
	}

	// HTML: one bar per day with files, and a page Chromium renders.
	page := filepath.Join(t.TempDir(), "report.html")
	if stdout, stderr, code := runToolCode(t, s3srv, append([]string{"audit", "report", "-hmac-key-file", keyFile, "-format", "html", "-o", page}, trail...)...); code != 0 {
		t.Fatalf("audit report -format html: exit %d\n%s%s", code, stdout, stderr)
	}
	html, _ := os.ReadFile(page)
	bars := regexp.MustCompile(`<g class="bar" data-date="([0-9-]+)"><rect `).FindAllSubmatch(html, -1)
	if len(bars) != len(days) || len(bars) == 0 || !days[string(bars[0][1])] {
		t.Errorf("chart has %d bars (%q); want one per day with files: %v", len(bars), bars, days)
	}
	screenshot(t, page)

	// A tampered trail: the report says where it breaks, keeps what precedes, exits 1.
	tampered := filepath.Join(t.TempDir(), "audit.jsonl")
	var live []byte
	for _, f := range trail {
		b, _ := os.ReadFile(f)
		live = append(live, b...)
	}
	lines := bytes.Split(live, []byte("\n"))
	at := -1
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"event":"close"`)) && bytes.Contains(l, []byte(`"path":"/big.bin"`)) { // the aborted upload's row
			at = i
			break
		}
	}
	lines[at] = bytes.Replace(lines[at], []byte("/big.bin"), []byte("/big.bix"), 1)
	os.WriteFile(tampered, bytes.Join(lines, []byte("\n")), 0o600)
	stdout, stderr, code := runToolCode(t, s3srv, "audit", "report", "-hmac-key-file", keyFile, tampered)
	wantBreak := fmt.Sprintf("Verification: BROKEN: %s:%d: seq ", tampered, at+1)
	if code != 1 || !strings.Contains(stdout, wantBreak) || !strings.Contains(stdout, "MAC mismatch") || !strings.Contains(stderr, "chain broken") {
		t.Errorf("report of a tampered trail: exit %d, stderr %q; want 1 and %q (MAC mismatch) at the top:\n%.3000s", code, stderr, wantBreak, stdout)
	}
	if !strings.Contains(stdout, "/labs.csv") || strings.Contains(stdout, "/big.bi") {
		t.Errorf("report of a tampered trail: want the rows before the break (/labs.csv), none from it on:\n%s", stdout)
	}
}

// screenshot renders page in headless Chromium and checks the PNG shows a
// page (a sensible size, not blank), then prints it to PDF as an officer
// would and checks a PDF comes out.
func screenshot(t *testing.T, page string) {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatalf("chromium not found: apt-get install chromium (scripts/test installs it)")
	}
	dir := t.TempDir()
	shot, pdf := filepath.Join(dir, "report.png"), filepath.Join(dir, "report.pdf")
	chromium(t, "--window-size=1280,1600", "--screenshot="+shot, "file://"+page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot is %dx%d; want the 1280x1600 window", b.Dx(), b.Dy())
	}
	if inked, colours := ink(img); inked < b.Dx()*b.Dy()/100 || colours < 8 {
		t.Errorf("screenshot looks blank: %d non-white pixels, %d colours", inked, colours)
	}
	chromium(t, "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+page)
	if got, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(got, []byte("%PDF-")) || len(got) < 10<<10 {
		t.Errorf("print to PDF: %d bytes (%v); want a PDF of the page", len(got), err)
	}
}

// chromium runs headless Chromium, isolated and off the network, with args.
func chromium(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("chromium", append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}, args...)...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("chromium %v did not finish:\n%s", args, out)
	}
	if err != nil {
		t.Logf("chromium %v: %v\n%s", args, err, out)
	}
}

// ink counts the pixels that are not white, and the distinct colours.
func ink(img image.Image) (int, int) {
	b := img.Bounds()
	n, colours := 0, map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
			}
		}
	}
	return n, len(colours)
}

// TestE2E_AuditReportResolvesNames: with paths = "hmac" the report names no
// file, unless -resolve-names lists the homes in S3: then the files still
// there show their names, and a deleted one stays hashed.
func TestE2E_AuditReportResolvesNames(t *testing.T) {
	s3srv := s3test.Start(t)
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	hmacKey := make([]byte, 32)
	rand.Read(hmacKey)
	if err := os.WriteFile(keyFile, hmacKey, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, s3srv, gatewayOpts{audit: fmt.Sprintf("hmac_key_file = %q\npaths = \"hmac\"", keyFile)})
	dir := t.TempDir()
	const name, gone = "SMITH_JOHN_MRN4417.csv", "DOE_JANE_MRN0001.csv"
	writeRandom(t, filepath.Join(dir, name), 1000)
	writeRandom(t, filepath.Join(dir, gone), 1000)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "mkdir in\nput "+name+" in/"+name+"\nput "+gone+"\nrm "+gone+"\n")
	g.stop(t)
	trail, _ := filepath.Glob(filepath.Join(filepath.Dir(g.auditFile()), "audit*.jsonl"))

	plain, stderr, code := runToolCode(t, s3srv, append([]string{"audit", "report", "-hmac-key-file", keyFile}, trail...)...)
	if code != 0 || strings.Contains(plain, "SMITH") || strings.Contains(plain, "DOE") || !strings.Contains(plain, "hmac:") {
		t.Fatalf("report without -resolve-names: exit %d (%s); want 0, names hashed:\n%s", code, stderr, plain)
	}
	out, stderr, code := runToolCode(t, s3srv, append([]string{"audit", "report", "-hmac-key-file", keyFile, "-resolve-names", "-config", g.config}, trail...)...)
	if code != 0 {
		t.Fatalf("report -resolve-names: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{" /in/" + name + " ", "object=" + s3srv.Bucket + "/partners/acme/in/" + name, " /in ", "stay hashed"} {
		if !strings.Contains(out, want) {
			t.Errorf("report -resolve-names lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "DOE") || !regexp.MustCompile(`remove +ok +hmac:[0-9a-f]{64}`).MatchString(out) {
		t.Errorf("the deleted file must stay hashed:\n%s", out)
	}
}
