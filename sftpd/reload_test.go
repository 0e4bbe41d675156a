package sftpd_test

import (
	"crypto/rand"
	"sync/atomic"
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
		!ts.logs.waitFor(`reason="revoked: the user's home, bucket, folders or permissions changed; log in again"`, time.Second) {
		t.Errorf("the log does not say why the sessions were closed")
	}
	if !buf.waitFor(`"event":"disconnect","result":"ok","reason":"revoked: the user or key was removed from the configuration","user":"ed"`, time.Second) {
		t.Errorf("the audit trail lacks ed's disconnect with the reason:\n%s", buf)
	}
	if _, err := ssh.Dial("tcp", ts.addr, clientConfig(t, "ed", ssh.PublicKeys(k.ed25519))); err == nil {
		t.Errorf("the removed key still logs in")
	}
}

// TestServer_RecheckClosesSessionsWhoseFoldersChanged: a reload that
// changes one user's folder permissions, or moves another's folder, closes
// those users' sessions and no one else's, though all share the layout.
func TestServer_RecheckClosesSessionsWhoseFoldersChanged(t *testing.T) {
	k := keys(t)
	layout := func(user string, outbound auth.Perms, inboundBucket string) []auth.Folder {
		return []auth.Folder{
			{Path: "/inbound", Bucket: inboundBucket, Prefix: "inbound/" + user + "/", Perms: auth.PermWrite},
			{Path: "/outbound", Bucket: "b", Prefix: "outbound/" + user + "/", Perms: outbound},
		}
	}
	lrd := auth.PermList | auth.PermRead | auth.PermDelete
	users := func(edOutbound auth.Perms, ecInbound string) *auth.Users {
		u, err := auth.NewUsers([]auth.User{
			{Name: "ed", Bucket: "b", Perms: auth.AllPerms, Folders: layout("ed", edOutbound, "b"), Keys: []ssh.PublicKey{k.ed25519.PublicKey()}},
			{Name: "ec", Bucket: "b", Perms: auth.AllPerms, Folders: layout("ec", lrd, ecInbound), Keys: []ssh.PublicKey{k.ecdsa.PublicKey()}},
			{Name: "rsa", Bucket: "b", Perms: auth.AllPerms, Folders: layout("rsa", lrd, "b"), Keys: []ssh.PublicKey{k.rsa.PublicKey()}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	live := auth.NewLive(users(lrd, "b"))
	ts := startServer(t, func(s *sftpd.Server) { s.Users = live })
	ed := sshLogin(t, ts.addr, "ed", k.ed25519)
	ec := sshLogin(t, ts.addr, "ec", k.ecdsa)
	rsa := sshLogin(t, ts.addr, "rsa", k.rsa)
	for _, c := range []*ssh.Client{ed, ec, rsa} {
		sftpOn(t, c)
	}

	live.Swap(users(auth.PermList|auth.PermRead, "phi-inbound"))
	if n := ts.srv.Recheck(); n != 2 {
		t.Errorf("Recheck closed %d sessions; want 2 (ed's /outbound lost delete, ec's /inbound moved bucket)", n)
	}
	if !closedWithin(ed, time.Second) || !closedWithin(ec, time.Second) {
		t.Errorf("sessions whose folders changed still open a second after the reload")
	}
	if closedWithin(rsa, 200*time.Millisecond) {
		t.Errorf("the session of a user whose folders did not change was closed")
	}
	if !ts.logs.waitFor(`reason="revoked: the user's home, bucket, folders or permissions changed; log in again"`, time.Second) {
		t.Errorf("the log does not say why the sessions were closed")
	}
}

// TestServer_RecheckClosesSessionsOnPasswordChange: a reload that changes a
// user's password closes the sessions that logged in with the old one,
// password alone or key and password; a user whose password stayed keeps
// the session. The log and the audit trail say why.
func TestServer_RecheckClosesSessionsOnPasswordChange(t *testing.T) {
	k := keys(t)
	hash := func(pw string) *auth.PasswordHash {
		h, err := auth.ParsePasswordHash(auth.HashPassword(pw))
		if err != nil {
			t.Fatal(err)
		}
		return &h
	}
	kept := hash("kept")
	users := func(pw, both *auth.PasswordHash) *auth.Users {
		u, err := auth.NewUsers([]auth.User{
			{Name: "pw", Bucket: "b", Home: "pw/", Perms: auth.AllPerms, Methods: auth.MethodPassword, Password: pw},
			{Name: "both", Bucket: "b", Home: "both/", Perms: auth.AllPerms, Methods: auth.MethodPublicKey | auth.MethodPassword,
				Password: both, Keys: []ssh.PublicKey{k.ed25519.PublicKey()}},
			{Name: "same", Bucket: "b", Home: "same/", Perms: auth.AllPerms, Methods: auth.MethodPassword, Password: kept},
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	live := auth.NewLive(users(hash("old-pw"), hash("old-both")))
	buf := &logBuffer{}
	l, err := audit.Open(audit.Config{Stdout: buf})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(s *sftpd.Server) { s.Users, s.Audit, s.PasswordAuth = live, l, true })
	login := func(user string, auths ...ssh.AuthMethod) *ssh.Client {
		sc, err := ssh.Dial("tcp", ts.addr, clientConfig(t, user, auths...))
		if err != nil {
			t.Fatalf("login as %s: %v", user, err)
		}
		t.Cleanup(func() { sc.Close() })
		sftpOn(t, sc)
		return sc
	}
	pw := login("pw", ssh.Password("old-pw"))
	both := login("both", ssh.PublicKeys(k.ed25519), ssh.Password("old-both"))
	same := login("same", ssh.Password("kept"))

	live.Swap(users(hash("new-pw"), hash("new-both")))
	if n := ts.srv.Recheck(); n != 2 {
		t.Errorf("Recheck closed %d sessions; want 2 (pw's and both's passwords changed)", n)
	}
	if !closedWithin(pw, time.Second) || !closedWithin(both, time.Second) {
		t.Errorf("sessions logged in with a changed password still open a second after the reload")
	}
	if closedWithin(same, 200*time.Millisecond) {
		t.Errorf("the session of a user whose password did not change was closed")
	}
	if !ts.logs.waitFor(`reason="revoked: the user's password changed; log in again"`, time.Second) {
		t.Errorf("the log does not say why the sessions were closed")
	}
	for _, user := range []string{"pw", "both"} {
		if !buf.waitFor(`"event":"disconnect","result":"ok","reason":"revoked: the user's password changed; log in again","user":"`+user+`"`, time.Second) {
			t.Errorf("the audit trail lacks %s's disconnect with the reason:\n%s", user, buf)
		}
	}
}

// clock is a test clock that only moves when told.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// TestServer_PeriodicRecheckClosesExpiredLogins: a session whose key
// reaches its expiry-time, or whose certificate reaches the end of its
// validity, is closed by the periodic check without any reload; a session
// whose key has no end goes on.
func TestServer_PeriodicRecheckClosesExpiredLogins(t *testing.T) {
	k := keys(t)
	clk := &clock{}
	start := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clk.set(start)
	users, err := auth.NewUsers([]auth.User{
		{Name: "ed", Bucket: "b", Home: "ed/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.ed25519.PublicKey()},
			KeyOptions: []auth.KeyOptions{{Expiry: start.Add(time.Hour)}}},
		{Name: "ec", Bucket: "b", Home: "ec/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.ecdsa.PublicKey()}},
		{Name: "certified", Bucket: "b", Home: "certified/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.stranger.PublicKey()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ca := k.strangers[0]
	cert := &ssh.Certificate{Key: k.strangers[1].PublicKey(), CertType: ssh.UserCert, KeyId: "day-pass", Serial: 7,
		ValidPrincipals: []string{"certified"},
		ValidAfter:      uint64(start.Add(-time.Minute).Unix()), ValidBefore: uint64(start.Add(2 * time.Hour).Unix())}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	certSigner, err := ssh.NewCertSigner(cert, k.strangers[1])
	if err != nil {
		t.Fatal(err)
	}
	buf := &logBuffer{}
	l, err := audit.Open(audit.Config{Stdout: buf})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(s *sftpd.Server) {
		s.Users, s.Audit, s.Now, s.RecheckInterval = users, l, clk.now, 20*time.Millisecond
		s.UserCAs = auth.NewUserCAs([]ssh.PublicKey{ca.PublicKey()}, 0)
	})
	ed := sshLogin(t, ts.addr, "ed", k.ed25519)
	ec := sshLogin(t, ts.addr, "ec", k.ecdsa)
	certified := sshLogin(t, ts.addr, "certified", certSigner)
	for _, c := range []*ssh.Client{ed, ec, certified} {
		sftpOn(t, c)
	}
	if closedWithin(ed, 200*time.Millisecond) || closedWithin(certified, 10*time.Millisecond) {
		t.Fatalf("sessions closed before their key or certificate expired")
	}

	clk.add(time.Hour) // ed's key expires
	if !closedWithin(ed, 2*time.Second) {
		t.Errorf("the session of a key past its expiry-time is still open")
	}
	if closedWithin(certified, 200*time.Millisecond) {
		t.Errorf("the certificate's session closed an hour before the end of its validity")
	}
	clk.add(time.Hour) // and the certificate
	if !closedWithin(certified, 2*time.Second) {
		t.Errorf("the session of a certificate past its validity is still open")
	}
	if closedWithin(ec, 200*time.Millisecond) {
		t.Errorf("the session of a key without expiry was closed")
	}
	for _, want := range []string{
		`reason="revoked: key restricted: key expired at 2026-06-01T13:00:00Z"`,
		`reason="revoked: key restricted: certificate \"day-pass\": cert has expired"`,
	} {
		if !ts.logs.waitFor(want, time.Second) {
			t.Errorf("the log lacks %s", want)
		}
	}
	for _, want := range []string{
		`"user":"certified","method":"publickey","key_type":"ssh-ed25519-cert-v01@openssh.com","key_fp":"` + ssh.FingerprintSHA256(k.strangers[1].PublicKey()) + `","cert_id":"day-pass","cert_serial":7`,
		`"event":"disconnect","result":"ok","reason":"revoked: key restricted: key expired at 2026-06-01T13:00:00Z","user":"ed"`,
		`"reason":"revoked: key restricted: certificate \"day-pass\": cert has expired","user":"certified"`,
	} {
		if !buf.waitFor(want, time.Second) {
			t.Errorf("the audit trail lacks %s:\n%s", want, buf)
		}
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
