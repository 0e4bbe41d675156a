package sftpd_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/defender"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

// auditTrail starts a server that records to a buffer and returns a func
// that reads the records written so far.
func auditTrail(t *testing.T) (*testServer, func() []audit.Record) {
	t.Helper()
	buf := &logBuffer{}
	l, err := audit.Open(audit.Config{Stdout: buf})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(s *sftpd.Server) { s.Audit = l })
	return ts, func() []audit.Record {
		var recs []audit.Record
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var r audit.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("audit line %q: %v", line, err)
			}
			recs = append(recs, r)
		}
		return recs
	}
}

// waitRecords polls until the trail holds n records.
func waitRecords(t *testing.T, read func() []audit.Record, n int) []audit.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := read()
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAudit_SessionRecords(t *testing.T) {
	k := keys(t)
	ts, read := auditTrail(t)

	// The client offers a key the user does not have, then the right one.
	sc, err := ssh.Dial("tcp", ts.addr, clientConfig(t, "ed", ssh.PublicKeys(k.stranger, k.ed25519)))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	local := sc.LocalAddr().String()
	c := sftpOn(t, sc)
	if _, err := c.Getwd(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	sc.Close()

	recs := waitRecords(t, read, 4)
	if len(recs) != 4 {
		t.Fatalf("%d records; want connect, auth denied, auth ok, disconnect: %+v", len(recs), recs)
	}
	want := []struct{ event, result, keyFP, reason string }{
		{audit.EventConnect, audit.ResultOK, "", ""},
		{audit.EventAuth, audit.ResultDenied, ssh.FingerprintSHA256(k.stranger.PublicKey()), "unknown user or key"},
		{audit.EventAuth, audit.ResultOK, ssh.FingerprintSHA256(k.ed25519.PublicKey()), ""},
		{audit.EventDisconnect, audit.ResultOK, "", "connection closed"},
	}
	for i, w := range want {
		r := recs[i]
		if r.Event != w.event || r.Result != w.result || r.KeyFP != w.keyFP || r.Reason != w.reason {
			t.Errorf("record %d = %s/%s key %q reason %q; want %s/%s key %q reason %q",
				i+1, r.Event, r.Result, r.KeyFP, r.Reason, w.event, w.result, w.keyFP, w.reason)
		}
		if r.Session == "" || r.Session != recs[0].Session {
			t.Errorf("record %d session %q; want the connection's id %q on every record", i+1, r.Session, recs[0].Session)
		}
	}
	if recs[0].Remote != local || !strings.HasPrefix(recs[0].Client, "SSH-2.0-Go") {
		t.Errorf("connect: remote %q client %q; want %q and the client's version string", recs[0].Remote, recs[0].Client, local)
	}
	for _, r := range recs[1:3] {
		if r.User != "ed" || r.Method != "publickey" || r.KeyType != ssh.KeyAlgoED25519 {
			t.Errorf("auth: user %q method %q key type %q; want ed publickey %s", r.User, r.Method, r.KeyType, ssh.KeyAlgoED25519)
		}
	}
	d := recs[3]
	if d.User != "ed" || d.DurMS == nil || d.BytesIn == nil || *d.BytesIn < 1000 || d.BytesOut == nil || *d.BytesOut < 1000 {
		t.Errorf("disconnect: user %q dur %v in %v out %v; want the user, a duration and the bytes of the handshake and session",
			d.User, d.DurMS, d.BytesIn, d.BytesOut)
	}
}

func TestAudit_FailedLoginsNameNoSecret(t *testing.T) {
	k := keys(t)
	ts, read := auditTrail(t)
	const password = "Tr0ub4dor&3-never-logged"
	if sc, err := ssh.Dial("tcp", ts.addr, clientConfig(t, "mallory", ssh.Password(password), ssh.PublicKeys(k.stranger))); err == nil {
		sc.Close()
		t.Fatal("login succeeded; want refused")
	}
	recs := waitRecords(t, read, 3)
	var methods []string
	for _, r := range recs {
		if r.Event == audit.EventAuth {
			if r.Result != audit.ResultDenied || r.User != "mallory" {
				t.Errorf("auth record %+v; want denied for the attempted user mallory", r)
			}
			methods = append(methods, r.Method+": "+r.Reason)
		}
	}
	// The server offers only publickey, so the client never sends the password.
	if got := strings.Join(methods, ", "); got != "publickey: unknown user or key" {
		t.Errorf("auth failures recorded: %s; want the key try with its reason", got)
	}
	if last := recs[len(recs)-1]; last.Event != audit.EventDisconnect || last.Reason != "authentication failed" {
		t.Errorf("last record %s reason %q; want disconnect, authentication failed", last.Event, last.Reason)
	}
	for _, where := range []string{ts.logs.String(), strings.Join(eventsOf(recs), "")} {
		if strings.Contains(where, password) {
			t.Errorf("the password reached the logs or the audit trail")
		}
	}
}

func eventsOf(recs []audit.Record) []string {
	var out []string
	for _, r := range recs {
		b, _ := json.Marshal(r)
		out = append(out, string(b))
	}
	return out
}

func TestAudit_HandshakeFailures(t *testing.T) {
	ts, read := auditTrail(t)
	// A TCP probe that says nothing is no session: no record.
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	// A client with no cipher in common is recorded, with the reason.
	cfg := clientConfig(t, "ed", ssh.PublicKeys(keys(t).ed25519))
	cfg.Ciphers = []string{ssh.CipherChaCha20Poly1305}
	if sc, err := ssh.Dial("tcp", ts.addr, cfg); err == nil {
		sc.Close()
		t.Fatal("handshake with chacha20 only succeeded; want refused")
	}
	recs := waitRecords(t, read, 2)
	if len(recs) != 2 {
		t.Fatalf("%d records; want connect and disconnect of the failed handshake only: %+v", len(recs), recs)
	}
	if r := recs[0]; r.Event != audit.EventConnect || r.Result != audit.ResultError || !strings.Contains(r.Error, "no common algorithm for client to server cipher") {
		t.Errorf("record 1 = %s/%s %q; want connect/error naming the missing cipher", r.Event, r.Result, r.Error)
	}
	if r := recs[1]; r.Event != audit.EventDisconnect || !strings.HasPrefix(r.Reason, "handshake failed") {
		t.Errorf("record 2 = %s reason %q; want disconnect, handshake failed", r.Event, r.Reason)
	}
}

func TestAudit_RefusedRequests(t *testing.T) {
	ts, read := auditTrail(t)
	sc := sshLogin(t, ts.addr, "ed", keys(t).ed25519)
	s, err := sc.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run("cat /etc/passwd"); err == nil {
		t.Fatal("exec succeeded")
	}
	if _, err := sc.Dial("tcp", "127.0.0.1:22"); err == nil {
		t.Fatal("port forwarding succeeded")
	}
	sc.Close()
	var got []string
	for _, r := range waitRecords(t, read, 5) {
		if r.Event == audit.EventRefused {
			got = append(got, r.Op+" "+r.Result+" "+r.Reason+" "+r.User)
		}
	}
	if want := "exec denied unsupported ed, channel direct-tcpip denied unsupported ed"; strings.Join(got, ", ") != want {
		t.Errorf("refused records: %q; want %q", strings.Join(got, ", "), want)
	}
}

// TestAudit_LongUserNamesAreBounded: a client picks its user name, up to the
// 256 KB of an SSH packet. Three 200 KB names (differing only at the end)
// add a few KB to the trail and the log, and stay distinguishable there.
func TestAudit_LongUserNamesAreBounded(t *testing.T) {
	k := keys(t)
	trail := &logBuffer{}
	l, err := audit.Open(audit.Config{Stdout: trail})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(s *sftpd.Server) {
		s.Audit = l
		s.Defender = &defender.Config{IPFailures: 100, UserFailures: 100, Window: time.Minute,
			BanTime: time.Minute, BanTimeMax: time.Hour}
	})
	logBefore := len(ts.logs.String())
	long := strings.Repeat("a", 200<<10)
	for i := range 3 {
		user := long + string(rune('x'+i))
		if sc, err := ssh.Dial("tcp", ts.addr, clientConfig(t, user, ssh.PublicKeys(k.stranger))); err == nil {
			sc.Close()
			t.Fatal("login succeeded; want refused")
		}
	}
	waitCount(t, ts, "disconnect", 3)
	t.Logf("three 200 KB user names: the trail grew by %d bytes, the log by %d", len(trail.String()), len(ts.logs.String())-logBefore)
	if n := len(trail.String()); n > 20<<10 {
		t.Errorf("trail grew by %d bytes for three 200 KB user names; want under 20 KB", n)
	}
	if n := len(ts.logs.String()) - logBefore; n > 20<<10 {
		t.Errorf("log grew by %d bytes for three 200 KB user names; want under 20 KB", n)
	}
	users := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(trail.String()), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line: %v", err)
		}
		if r.Event == audit.EventAuth {
			if !strings.HasPrefix(r.User, "aaaa") || !strings.Contains(r.User, "…[cut ") {
				t.Errorf("auth record user %.40q…; want the name's start and a cut marker", r.User)
			}
			users[r.User] = true
		}
	}
	if len(users) != 3 {
		t.Errorf("the trail names %d distinct users; want 3", len(users))
	}
}

// TestAudit_RefusedFloodFromClient: a client that opens a thousand refused
// channels gets its first refusals recorded and logged as warnings, and the
// rest counted in an unrecorded record at disconnect.
func TestAudit_RefusedFloodFromClient(t *testing.T) {
	ts, read := auditTrail(t)
	sc := sshLogin(t, ts.addr, "ed", keys(t).ed25519)
	const flood = 1000
	for range flood {
		if _, err := sc.Dial("tcp", "127.0.0.1:22"); err == nil {
			t.Fatal("port forwarding succeeded")
		}
	}
	sc.Close()
	var recs []audit.Record
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if recs = read(); recs[len(recs)-1].Event == audit.EventDisconnect || time.Now().After(deadline) {
			break
		}
	}
	var written, unrecorded int64
	for _, r := range recs {
		switch r.Event {
		case audit.EventRefused:
			written++
		case audit.EventUnrecorded:
			unrecorded += *r.Count
		}
	}
	if written > audit.RefusedBurst+10 || written+unrecorded != flood {
		t.Errorf("%d refusals recorded and %d counted as unrecorded; want at most %d recorded and %d in all",
			written, unrecorded, audit.RefusedBurst+10, flood)
	}
	if n := strings.Count(ts.logs.String(), `level=WARN msg="channel refused"`); n > audit.RefusedBurst {
		t.Errorf("%d warnings for refused channels; want at most %d", n, audit.RefusedBurst)
	}
}
