package e2e

import (
	be "encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// proxyV2 is a PROXY protocol v2 header for a TCP/IPv4 client.
func proxyV2(src netip.AddrPort) []byte {
	h := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	ip := src.Addr().As4()
	h = append(h, ip[:]...)
	h = append(h, 127, 0, 0, 1)
	h = be.BigEndian.AppendUint16(h, src.Port())
	return be.BigEndian.AppendUint16(h, 2022)
}

// sftpBehindProxy logs in as acme over a connection that first sends
// header, as a load balancer would, and uploads one file.
func sftpBehindProxy(t *testing.T, g *gateway, header []byte, name string) error {
	t.Helper()
	nc, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(header); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(clientKeys["ed25519"])
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	conn, chans, reqs, err := ssh.NewClientConn(nc, g.addr, &ssh.ClientConfig{User: "acme",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		return err
	}
	client := ssh.NewClient(conn, chans, reqs)
	defer client.Close()
	sc, err := sftp.NewClient(client)
	if err != nil {
		return err
	}
	defer sc.Close()
	f, err := sc.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte("behind a load balancer\n")); err != nil {
		return err
	}
	return f.Close()
}

// TestE2E_ProxyProtocol: behind a load balancer speaking PROXY v1 or v2,
// the audit trail and the log name the real client; a connection without
// a header is refused.
func TestE2E_ProxyProtocol(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{server: "proxy_protocol = true\ntrusted_proxies = [\"127.0.0.1\"]\n"})

	v2Client := netip.MustParseAddrPort("203.0.113.77:40001")
	if err := sftpBehindProxy(t, g, proxyV2(v2Client), "v2.txt"); err != nil {
		t.Fatalf("session behind PROXY v2: %v", err)
	}
	if err := sftpBehindProxy(t, g, []byte("PROXY TCP6 2001:db8::42 ::1 50123 2022\r\n"), "v1.txt"); err != nil {
		t.Fatalf("session behind PROXY v1: %v", err)
	}
	if err := sftpBehindProxy(t, g, nil, "none.txt"); err == nil {
		t.Errorf("a session without a PROXY header was accepted")
	}
	if _, ok := s3srv.Get(t, "partners/acme/v2.txt"); !ok {
		t.Errorf("upload behind PROXY v2 not stored")
	}
	if _, ok := s3srv.Get(t, "partners/acme/none.txt"); ok {
		t.Errorf("upload without a header stored")
	}

	var recs []audit.Record
	waitFor(t, 10*time.Second, "disconnect records", func() bool {
		recs = readTrail(t, g.auditFile())
		return len(find(recs, func(r audit.Record) bool { return r.Event == audit.EventDisconnect })) >= 2
	})
	for _, want := range []string{"203.0.113.77:40001", "[2001:db8::42]:50123"} {
		connects := find(recs, func(r audit.Record) bool { return r.Event == audit.EventConnect && r.Remote == want })
		closes := find(recs, func(r audit.Record) bool { return r.Event == audit.EventClose && r.Result == audit.ResultOK })
		if len(connects) != 1 || len(closes) != 2 {
			t.Errorf("audit: %d connect records from %s, %d ok closes; want 1 and 2", len(connects), want, len(closes))
		}
		if !strings.Contains(g.logs.String(), `"remote":"`+want+`"`) {
			t.Errorf("log does not name the client %s", want)
		}
	}
	if remotes := find(recs, func(r audit.Record) bool { return strings.HasPrefix(r.Remote, "127.0.0.1:") }); len(remotes) > 0 {
		t.Errorf("audit names the proxy instead of the client: %+v", remotes[0])
	}
	if !strings.Contains(g.logs.String(), "no PROXY header") {
		t.Errorf("the refused connection is not logged")
	}
}
