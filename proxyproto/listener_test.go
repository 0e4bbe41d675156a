package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func v2Header(cmd, fam byte, addrs []byte) []byte {
	h := append([]byte{}, v2Signature...)
	h = append(h, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(h[14:], uint16(len(addrs)))
	return append(h, addrs...)
}

func v2IPv4(src, dst [4]byte, sport, dport uint16, tlv []byte) []byte {
	b := append(append([]byte{}, src[:]...), dst[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	return v2Header(1, 0x11, append(b, tlv...))
}

func TestReadProxyHeader(t *testing.T) {
	ip6 := netip.MustParseAddr("2001:db8::7").As16()
	v6 := append(append(ip6[:], make([]byte, 16)...), 0xc3, 0x50, 0, 22)
	tests := []struct {
		name   string
		header []byte
		want   string // "" = the proxy's own connection, "error" = refused
	}{
		{"v1-tcp4", []byte("PROXY TCP4 203.0.113.9 10.0.0.1 51000 2022\r\n"), "203.0.113.9:51000"},
		{"v1-tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 50000 22\r\n"), "[2001:db8::7]:50000"},
		{"v1-unknown", []byte("PROXY UNKNOWN\r\n"), ""},
		{"v1-family-mismatch", []byte("PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n"), "error"},
		{"v1-bad-port", []byte("PROXY TCP4 203.0.113.9 10.0.0.1 70000 22\r\n"), "error"},
		{"v1-leading-zero-port", []byte("PROXY TCP4 203.0.113.9 10.0.0.1 022 22\r\n"), "error"},
		{"v1-too-long", append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("1"), 120)...), "error"},
		{"v1-no-crlf", []byte("PROXY TCP4 203.0.113.9 10.0.0.1 51000 2022\n"), "error"},
		{"v2-tcp4", v2IPv4([4]byte{198, 51, 100, 4}, [4]byte{10, 0, 0, 1}, 40000, 2022, nil), "198.51.100.4:40000"},
		{"v2-tcp4-with-tlv", v2IPv4([4]byte{198, 51, 100, 4}, [4]byte{10, 0, 0, 1}, 40000, 2022,
			[]byte{0xEA, 0x00, 0x05, 0x01, 'v', 'p', 'c', 'e'}), "198.51.100.4:40000"},
		{"v2-tcp6", v2Header(1, 0x21, v6), "[2001:db8::7]:50000"},
		{"v2-local", v2Header(0, 0x00, nil), "local"},
		{"v2-unspec", v2Header(1, 0x00, nil), ""},
		{"v2-udp", v2Header(1, 0x12, make([]byte, 12)), "error"},
		{"v2-short", v2Header(1, 0x11, make([]byte, 8)), "error"},
		{"v2-bad-version", append(append([]byte{}, v2Signature...), 0x11, 0x11, 0, 0), "error"},
		{"ssh-without-header", []byte("SSH-2.0-OpenSSH_9.2p1\r\n"), "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const rest = "SSH-2.0-client\r\n"
			r := bytes.NewReader(append(append([]byte{}, tt.header...), rest...))
			addr, err := ReadHeader(r)
			switch {
			case tt.want == "local":
				if !errors.Is(err, ErrLocal) {
					t.Fatalf("ReadHeader = %v, %v; want ErrLocal", addr, err)
				}
			case tt.want == "error":
				if err == nil {
					t.Fatalf("ReadHeader = %v; want an error", addr)
				}
				return
			case err != nil:
				t.Fatalf("ReadHeader: %v", err)
			case tt.want == "" && addr != nil:
				t.Fatalf("ReadHeader = %v; want nil (the proxy's own connection)", addr)
			case tt.want != "" && (addr == nil || addr.String() != tt.want):
				t.Fatalf("ReadHeader = %v; want %s", addr, tt.want)
			}
			if after, _ := io.ReadAll(r); string(after) != rest {
				t.Errorf("after the header: %q; want the stream intact (%q)", after, rest)
			}
		})
	}
}

func proxyListener(t *testing.T, trusted string) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := &Listener{Listener: ln, Trusted: []netip.Prefix{netip.MustParsePrefix(trusted)}, Timeout: 500 * time.Millisecond}
	t.Cleanup(func() { pl.Close() })
	return pl
}

// accepted returns the next connection Accept gives, or nil within 2s.
func accepted(pl *Listener) net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := pl.Accept()
		if err != nil {
			c = nil
		}
		ch <- c
	}()
	select {
	case c := <-ch:
		return c
	case <-time.After(2 * time.Second):
		return nil
	}
}

func TestProxyListener_Trusted(t *testing.T) {
	pl := proxyListener(t, "127.0.0.0/8")
	// A silent connection first: it must not hold up the next one.
	silent, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("PROXY TCP4 203.0.113.9 10.0.0.1 51000 2022\r\nhello"))
	sc := accepted(pl)
	if sc == nil {
		t.Fatal("no connection accepted")
	}
	defer sc.Close()
	if got := sc.RemoteAddr().String(); got != "203.0.113.9:51000" {
		t.Errorf("RemoteAddr = %s; want 203.0.113.9:51000", got)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "hello" {
		t.Errorf("read after header = %q, %v; want hello", buf, err)
	}
	// The silent one is dropped after the timeout.
	silent.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := silent.Read(buf); err != io.EOF {
		t.Errorf("silent connection: read = %v; want EOF (closed by the server)", err)
	}
}

func TestProxyListener_RefusesUntrustedSource(t *testing.T) {
	pl := proxyListener(t, "10.0.0.0/8") // 127.0.0.1 is not a trusted proxy
	c, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("PROXY TCP4 203.0.113.9 10.0.0.1 51000 2022\r\n"))
	if sc := accepted(pl); sc != nil {
		sc.Close()
		t.Fatalf("a header from an untrusted source was accepted (remote %s)", sc.RemoteAddr())
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("untrusted connection: read = %v; want it closed (EOF or reset)", err)
	}
}

func TestProxyListener_CloseEndsAccept(t *testing.T) {
	pl := proxyListener(t, "127.0.0.0/8")
	errc := make(chan error, 1)
	go func() { _, err := pl.Accept(); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	pl.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Accept after Close returned no error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}

// TestParseTrusted: an address is trusted alone, a CIDR as its network.
func TestParseTrusted(t *testing.T) {
	for in, want := range map[string]string{"192.0.2.7": "192.0.2.7/32", "10.0.0.9/24": "10.0.0.0/24", "2001:db8::1": "2001:db8::1/128"} {
		if p, err := ParseTrusted(in); err != nil || p.String() != want {
			t.Errorf("got ParseTrusted(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	if _, err := ParseTrusted("10.0.0.0/33"); err == nil {
		t.Errorf("got ParseTrusted(%q) = nil error; want one", "10.0.0.0/33")
	}
}
