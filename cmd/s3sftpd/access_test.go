package main

import (
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// TestE2E_DefenderBan: OpenSSH sftp failing from 127.0.0.2 gets that address
// banned (closed before the handshake, even with the right key), while the
// same user still logs in from 127.0.0.1; the ban is in the audit trail.
func TestE2E_DefenderBan(t *testing.T) {
	g := startGateway(t, nil, gatewayOpts{endpoint: "embedded",
		extra: "[defender]\nip_failures = 3\nban_time = \"1m\"\n"})
	dir := t.TempDir()
	from := func(src, key string) (string, error) {
		return g.sftp(t, dir, "acme", key, "ls\n", "-o", "BindAddress="+src)
	}
	for i := range 3 {
		if out, err := from("127.0.0.2", clientKeys["other"]); err == nil {
			t.Fatalf("attempt %d with a key acme does not have succeeded:\n%s", i+1, out)
		}
	}
	waitFor(t, 5*time.Second, "the ban", func() bool { return strings.Contains(g.logs.String(), "address banned") })
	out, err := from("127.0.0.2", clientKeys["ed25519"])
	if err == nil {
		t.Fatalf("banned address logged in with the right key:\n%s", out)
	}
	if !strings.Contains(out, "Connection closed") && !strings.Contains(out, "kex_exchange_identification") {
		t.Errorf("banned client saw %q; want the connection closed before the key exchange", out)
	}
	if out, err := from("127.0.0.1", clientKeys["ed25519"]); err != nil {
		t.Fatalf("acme from another address refused during the ban: %v\n%s", err, out)
	}
	bans := find(readTrail(t, g.auditFile()), func(r audit.Record) bool { return r.Event == audit.EventBan })
	if len(bans) != 1 || bans[0].Remote != "127.0.0.2" || !strings.Contains(bans[0].Reason, "3 failed logins") {
		t.Errorf("ban records %+v; want one for 127.0.0.2 after 3 failed logins", bans)
	}
}
