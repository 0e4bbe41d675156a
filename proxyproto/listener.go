// Package proxyproto reads the PROXY protocol header (v1 text, v2 binary)
// that a load balancer puts before a connection, so the gateway sees, logs
// and bans the real client's address rather than the balancer's. It knows
// nothing of SSH: cmd wraps the listener sftpd accepts on.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ParseTrusted parses one entry of a Trusted list as the config writes it:
// a CIDR (host bits masked), or a single address.
func ParseTrusted(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}

// Listener accepts connections that start with a PROXY protocol
// header (v1 text or v2 binary, as HAProxy and AWS NLB send them) and
// reports the client address it carries as RemoteAddr, so logs and the
// audit trail name the real client instead of the load balancer.
//
// Only connections from Trusted sources may carry a header; any other
// connection is refused, as is one whose header is missing, malformed or
// not complete within Timeout. A v2 LOCAL connection (HAProxy's
// check-send-proxy health check) is closed at once, unserved and
// unlogged. A trusted header can claim any address, so the list must hold
// only the load balancers.
type Listener struct {
	net.Listener
	Trusted []netip.Prefix
	Timeout time.Duration // for the header; 0 means 5s
	Logger  *slog.Logger  // refusals; nil logs nothing

	once   sync.Once
	ready  chan net.Conn
	done   chan struct{}
	err    error // the inner Accept's error, set before done is closed
	wg     sync.WaitGroup
	closed sync.Once
}

// proxiedConn is a connection whose client address came from its header.
type proxiedConn struct {
	net.Conn
	remote net.Addr
}

func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }

// Accept returns the next connection whose header was read. Headers are
// read on their own goroutines, so a slow or silent client never holds up
// the others.
func (l *Listener) Accept() (net.Conn, error) {
	l.once.Do(l.start)
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close stops accepting, closes connections whose header is still being
// read, and waits for their goroutines.
func (l *Listener) Close() error {
	l.once.Do(l.start)
	err := l.Listener.Close()
	l.wg.Wait()
	return err
}

func (l *Listener) start() {
	l.ready = make(chan net.Conn)
	l.done = make(chan struct{})
	l.wg.Add(1)
	go l.acceptLoop()
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			l.err = err
			close(l.done)
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c, err := l.handshake(nc)
			if errors.Is(err, ErrLocal) { // a health check: the TCP connect was the answer
				nc.Close()
				return
			}
			if err != nil {
				if l.Logger != nil {
					l.Logger.Warn("connection refused", "remote", nc.RemoteAddr().String(), "err", err.Error())
				}
				nc.Close()
				return
			}
			select {
			case l.ready <- c:
			case <-l.done:
				c.Close()
			}
		}()
	}
}

// handshake checks the source and reads the header.
func (l *Listener) handshake(nc net.Conn) (net.Conn, error) {
	src, ok := nc.RemoteAddr().(*net.TCPAddr)
	if !ok || !l.trusted(src.AddrPort().Addr().Unmap()) {
		return nil, errors.New("proxy protocol: source is not a trusted proxy")
	}
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	nc.SetReadDeadline(time.Now().Add(timeout))
	remote, err := ReadHeader(nc)
	if err != nil {
		return nil, err
	}
	nc.SetReadDeadline(time.Time{})
	if remote == nil { // UNKNOWN or UNSPEC: only the proxy's address is known
		return nc, nil
	}
	return &proxiedConn{Conn: nc, remote: remote}, nil
}

func (l *Listener) trusted(a netip.Addr) bool {
	for _, p := range l.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ErrLocal is ReadHeader's answer to a v2 LOCAL header: the
// proxy's own connection, such as a health check, with no client behind it.
var ErrLocal = errors.New("proxy protocol: LOCAL connection of the proxy itself")

// v2Signature opens every PROXY protocol v2 header.
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxV2Extra bounds the address and TLV block of a v2 header we accept;
// real proxies send well under it (AWS adds a VPC endpoint TLV).
const maxV2Extra = 2048

// ReadHeader reads exactly one PROXY header (v1 or v2) from r and
// returns the client address it carries; nil when the proxy does not know
// it (v1 UNKNOWN, v2 UNSPEC), and ErrLocal for a v2 LOCAL header. It
// reads nothing past the header, so the SSH stream behind it is intact.
func ReadHeader(r io.Reader) (net.Addr, error) {
	head := make([]byte, 12) // the v2 signature; also no v1 header is shorter
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, fmt.Errorf("proxy protocol: read header: %w", err)
	}
	switch {
	case bytes.Equal(head, v2Signature):
		return readV2(r)
	case bytes.HasPrefix(head, []byte("PROXY ")):
		return readV1(r, head)
	}
	return nil, errors.New("proxy protocol: no PROXY header")
}

// readV1 reads the rest of a text header: "PROXY TCP4 src dst sport dport\r\n",
// at most 107 bytes.
func readV1(r io.Reader, line []byte) (net.Addr, error) {
	b := make([]byte, 1)
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) >= 107 {
			return nil, errors.New("proxy protocol: v1 header too long")
		}
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("proxy protocol: read v1 header: %w", err)
		}
		line = append(line, b[0])
	}
	f := strings.Split(string(line[:len(line)-2]), " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, errors.New("proxy protocol: malformed v1 header")
	}
	src, err := netip.ParseAddr(f[2])
	if err != nil || src.Is4() != (f[1] == "TCP4") || src.Zone() != "" {
		return nil, errors.New("proxy protocol: bad v1 source address")
	}
	if _, err := netip.ParseAddr(f[3]); err != nil {
		return nil, errors.New("proxy protocol: bad v1 destination address")
	}
	port, err := strconv.ParseUint(f[4], 10, 16)
	if err != nil || (len(f[4]) > 1 && f[4][0] == '0') {
		return nil, errors.New("proxy protocol: bad v1 source port")
	}
	if _, err := strconv.ParseUint(f[5], 10, 16); err != nil {
		return nil, errors.New("proxy protocol: bad v1 destination port")
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, uint16(port))), nil
}

// readV2 reads the rest of a binary header after its signature.
func readV2(r io.Reader) (net.Addr, error) {
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("proxy protocol: read v2 header: %w", err)
	}
	verCmd, fam, n := hdr[0], hdr[1], int(binary.BigEndian.Uint16(hdr[2:]))
	if verCmd>>4 != 2 || verCmd&0xf > 1 {
		return nil, errors.New("proxy protocol: bad v2 version or command")
	}
	if n > maxV2Extra {
		return nil, errors.New("proxy protocol: v2 header too long")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("proxy protocol: read v2 addresses: %w", err)
	}
	if verCmd&0xf == 0 {
		return nil, ErrLocal
	}
	switch fam {
	case 0x00: // UNSPEC: the proxy does not know the client
		return nil, nil
	case 0x11: // TCP over IPv4
		if n < 12 {
			return nil, errors.New("proxy protocol: short v2 IPv4 addresses")
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10]))), nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return nil, errors.New("proxy protocol: short v2 IPv6 addresses")
		}
		src := netip.AddrFrom16([16]byte(body[0:16]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34]))), nil
	}
	return nil, fmt.Errorf("proxy protocol: unsupported v2 address family 0x%02x", fam)
}
