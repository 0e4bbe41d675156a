package sftpd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/memlimit"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

// TestServer_SessionsPerConnectionCapped: the review opened 200 sftp
// sessions on one connection. The 11th session open at once is refused with
// a reason that says why; once one closes, another may open.
func TestServer_SessionsPerConnectionCapped(t *testing.T) {
	k := keys(t)
	ts := startServer(t, nil)
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	var clients []*sftp.Client
	for i := range sftpd.DefaultMaxSessionsPerConnection {
		c, err := sftp.NewClient(sc)
		if err != nil {
			t.Fatalf("sftp session %d: %v", i+1, err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	_, _, err := sc.OpenChannel("session", nil)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage || !strings.Contains(oce.Message, "at most 10") {
		t.Fatalf("session 11 on one connection: err = %v; want refused as a resource shortage saying at most 10", err)
	}
	if _, err := clients[0].Getwd(); err != nil {
		t.Errorf("a session opened before the refusal no longer works: %v", err)
	}
	clients[0].Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := sftp.NewClient(sc)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one of 10 sessions closed, a new one: %v; want it opened", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServer_DownloadBandwidthCapped: a user capped at 0.5 MB/s each way
// takes at least about 3 s to move 1.5 MB either way, whatever the client; a
// user without a cap on the same server is never held back. (Small figures:
// the in-memory handler under -race moves only a few MB/s.)
func TestServer_DownloadBandwidthCapped(t *testing.T) {
	k := keys(t)
	var mu sync.Mutex
	waited := map[string]time.Duration{}
	ts := startServer(t, func(s *sftpd.Server) {
		users, err := auth.NewUsers([]auth.User{
			{Name: "ed", Bucket: "b", Home: "ed/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.ed25519.PublicKey()},
				Limits: auth.Limits{MaxDownloadBytesPerSec: 5e5, MaxUploadBytesPerSec: 5e5}},
			{Name: "ec", Bucket: "b", Home: "ec/", Perms: auth.AllPerms, Keys: []ssh.PublicKey{k.ecdsa.PublicKey()}},
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Users = users
		s.Throttled = func(reason string, d time.Duration) {
			mu.Lock()
			waited[reason] += d
			mu.Unlock()
		}
	})
	throttled := func(reason string) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return waited[reason]
	}
	data := make([]byte, 1.5e6)
	rand.Read(data)

	free := sftpOn(t, sshLogin(t, ts.addr, "ec", k.ecdsa))
	put(t, free, "/big.bin", data)
	if !bytes.Equal(get(t, free, "/big.bin"), data) {
		t.Fatal("uncapped user's download differs")
	}
	if d := throttled(sftpd.ThrottledUploadBandwidth) + throttled(sftpd.ThrottledDownloadBandwidth); d != 0 {
		t.Errorf("a user without caps was throttled for %v; want 0", d)
	}

	capped := sftpOn(t, sshLogin(t, ts.addr, "ed", k.ed25519))
	start := time.Now()
	if !bytes.Equal(get(t, capped, "/big.bin"), data) {
		t.Fatal("capped user's download differs")
	}
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Errorf("1.5 MB download at max 0.5 MB/s took %v; want at least 1.5s", el)
	}
	if throttled(sftpd.ThrottledDownloadBandwidth) == 0 {
		t.Errorf("no time counted as download_bandwidth")
	}
	start = time.Now()
	put(t, capped, "/up.bin", data)
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Errorf("1.5 MB upload at max 0.5 MB/s took %v; want at least 1.5s", el)
	}
	if throttled(sftpd.ThrottledUploadBandwidth) == 0 {
		t.Errorf("no time counted as upload_bandwidth")
	}
}

func put(t *testing.T, c *sftp.Client, path string, data []byte) {
	t.Helper()
	f, err := c.Create(path)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", path, err)
	}
}

func get(t *testing.T, c *sftp.Client, path string) []byte {
	t.Helper()
	f, err := c.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, f); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return buf.Bytes()
}

// admitOne is an Admit with room for one session under the memory limit,
// as cmd wires it: a second waits up to wait, then is refused.
func admitOne(room *memlimit.Room, wait time.Duration) func(context.Context) (func(), error) {
	return func(ctx context.Context) (func(), error) {
		if _, ok := room.Take(ctx, wait); !ok {
			return nil, errors.New("server busy, try again later")
		}
		return room.Release, nil
	}
}

// TestServer_SessionWaitsForAdmit: with room for one session, a second
// waits while the first is open (its channel neither refused nor
// accepted), then goes on.
func TestServer_SessionWaitsForAdmit(t *testing.T) {
	k := keys(t)
	room := memlimit.NewRoom(memlimit.SessionBuffers)
	ts := startServer(t, func(s *sftpd.Server) { s.Admit = admitOne(room, 10*time.Minute) })
	first := sftpOn(t, sshLogin(t, ts.addr, "ed", k.ed25519))
	second := make(chan error, 1)
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	go func() {
		c, err := sftp.NewClient(sc)
		if err == nil {
			_, err = c.Getwd()
			c.Close()
		}
		second <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); room.Waiting() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second session never waited for room")
		}
	}
	select {
	case err := <-second:
		t.Fatalf("the second session ended while the first held the room: %v", err)
	default:
	}
	first.Close()
	if err := <-second; err != nil {
		t.Fatalf("the second session, once the first closed: %v; want it served", err)
	}
}

// TestServer_SessionRefusedByAdmit: a session Admit refuses is refused as a
// resource shortage with Admit's message, not dropped, and the open one
// goes on.
func TestServer_SessionRefusedByAdmit(t *testing.T) {
	k := keys(t)
	room := memlimit.NewRoom(memlimit.SessionBuffers)
	ts := startServer(t, func(s *sftpd.Server) { s.Admit = admitOne(room, 50*time.Millisecond) })
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	first := sftpOn(t, sc)
	_, _, err := sc.OpenChannel("session", nil)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage || oce.Message != "server busy, try again later" {
		t.Fatalf("a session with no room: err = %v; want a resource shortage saying \"server busy, try again later\"", err)
	}
	if _, err := first.Getwd(); err != nil {
		t.Errorf("the open session after the refusal: %v; want it working", err)
	}
	if got := room.InUse(); got != memlimit.SessionBuffers {
		t.Errorf("got room in use = %d; want %d (one session)", got, memlimit.SessionBuffers)
	}
	if !ts.logs.waitFor(`reason="server busy, try again later"`, 5*time.Second) {
		t.Errorf("the refusal is not logged with its reason:\n%s", ts.logs.String())
	}
}
