package sftpd_test

import (
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

// TestServer_RecheckClosesRevokedSessions: after a reload, a session whose
// key was removed, or whose permissions changed, is closed at once; others
// go on.
func TestServer_RecheckClosesRevokedSessions(t *testing.T) {
	k := keys(t)
	users := func(ecPerms auth.Perms, edKeys ...ssh.PublicKey) *auth.Users {
		u, err := auth.NewUsers([]auth.User{
			{Name: "ed", Bucket: "b", Home: "ed/", Perms: auth.AllPerms, Keys: edKeys},
			{Name: "ec", Bucket: "b", Home: "ec/", Perms: ecPerms, Keys: []ssh.PublicKey{k.ecdsa.PublicKey()}},
			{Name: "rsa", Bucket: "b", Home: "rsa/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.rsa.PublicKey()}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	live := auth.NewLive(users(auth.AllPerms, k.ed25519.PublicKey()))
	buf := &logBuffer{}
	l, err := audit.Open(audit.Config{Stdout: buf})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(s *sftpd.Server) { s.Users, s.Audit = live, l })
	ed := sshLogin(t, ts.addr, "ed", k.ed25519)
	ec := sshLogin(t, ts.addr, "ec", k.ecdsa)
	rsa := sshLogin(t, ts.addr, "rsa", k.rsa)
	for _, c := range []*ssh.Client{ed, ec, rsa} {
		sftpOn(t, c) // a session with the sftp subsystem running
	}

	live.Swap(users(auth.PermRead, k.stranger.PublicKey()))
	if n := ts.srv.Recheck(); n != 2 {
		t.Errorf("Recheck closed %d sessions; want 2 (ed's key removed, ec's permissions changed)", n)
	}
	if !closedWithin(ed, time.Second) || !closedWithin(ec, time.Second) {
		t.Errorf("revoked sessions still open a second after the reload")
	}
	if closedWithin(rsa, 200*time.Millisecond) {
		t.Errorf("an unchanged user's session was closed")
	}
	if !ts.logs.waitFor(`reason="revoked: the user or key was removed from the configuration"`, time.Second) ||
		!ts.logs.waitFor(`reason="revoked: the user's home, bucket or permissions changed; log in again"`, time.Second) {
		t.Errorf("the log does not say why the sessions were closed")
	}
	if !buf.waitFor(`"event":"disconnect","result":"ok","reason":"revoked: the user or key was removed from the configuration","user":"ed"`, time.Second) {
		t.Errorf("the audit trail lacks ed's disconnect with the reason:\n%s", buf)
	}
	if _, err := ssh.Dial("tcp", ts.addr, clientConfig(t, "ed", ssh.PublicKeys(k.ed25519))); err == nil {
		t.Errorf("the removed key still logs in")
	}
}

// TestServer_RecheckKeepsSessionsOnLimitsChange: a reload that changes only a
// user's fair-sharing limits closes none of its sessions.
func TestServer_RecheckKeepsSessionsOnLimitsChange(t *testing.T) {
	k := keys(t)
	users := func(l auth.Limits) *auth.Users {
		u, err := auth.NewUsers([]auth.User{
			{Name: "ed", Bucket: "b", Home: "ed/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.ed25519.PublicKey()}, Limits: l},
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	live := auth.NewLive(users(auth.Limits{}))
	ts := startServer(t, func(s *sftpd.Server) { s.Users = live })
	ed := sshLogin(t, ts.addr, "ed", k.ed25519)
	sftpOn(t, ed)

	live.Swap(users(auth.Limits{MaxDownloadBytesPerSec: 1e6, ReadAheadMemory: 8 << 20}))
	if n := ts.srv.Recheck(); n != 0 {
		t.Errorf("Recheck closed %d sessions after a limits-only change; want 0", n)
	}
	if closedWithin(ed, 200*time.Millisecond) {
		t.Errorf("the session was closed")
	}
}
