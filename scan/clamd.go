// Package scan is the gateway's client of ClamAV's daemon, clamd: PING,
// VERSION (the engine and its signature database, for the trail, the
// object and doctor) and INSTREAM, a scan of an upload streamed to clamd as
// its bytes arrive (Scan, an upload stage).
//
// It talks only to clamd, and only on a unix socket or a loopback or
// private address: INSTREAM carries the file in the clear, with neither
// encryption nor authentication. It must not buffer a file whole nor write
// it anywhere: the bytes go from the upload to clamd's socket through a
// small bounded buffer. It knows nothing of S3 or SFTP; the verdict's
// errors say what a partner may read (InfectedError, TooLargeError) or what
// only the log may (UnavailableError, ClamdError).
package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client reaches one clamd. Its zero value is not usable: see New.
type Client struct {
	network, addr string // "unix" and a path, or "tcp" and host:port

	// Timeout bounds connecting, each command's answer and each write of
	// a stream's bytes: clamd that accepts nothing for this long is
	// unavailable.
	Timeout time.Duration
	// VerdictTimeout bounds the wait for a verdict once the whole file is
	// sent (clamd scans only then): a large archive takes a while.
	VerdictTimeout time.Duration
	// MaxSize is the largest file a Scan accepts; a larger one is refused
	// with TooLargeError. It must not exceed clamd's StreamMaxLength, or
	// clamd cuts the stream first (which is refused the same way).
	MaxSize int64
}

// Defaults for a Client from New.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultVerdictTimeout = 5 * time.Minute
	DefaultMaxSize        = 4 << 30 // clamd's ceiling for StreamMaxLength
)

// New returns a client of the clamd at address, "unix:/path/to/socket" or
// "tcp:host:port". A tcp address must be a loopback or private one; a host
// name is allowed, and the address it resolves to is checked on every
// connection.
func New(address string) (*Client, error) {
	network, addr, ok := strings.Cut(address, ":")
	c := &Client{network: network, addr: addr, Timeout: DefaultTimeout, VerdictTimeout: DefaultVerdictTimeout, MaxSize: DefaultMaxSize}
	switch {
	case !ok || addr == "":
		return nil, fmt.Errorf("clamd address %q: want unix:/path or tcp:host:port", address)
	case network == "unix":
		if !strings.HasPrefix(addr, "/") {
			return nil, fmt.Errorf("clamd address %q: the socket path must be absolute", address)
		}
	case network == "tcp":
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("clamd address %q: want tcp:host:port", address)
		}
		if ip, err := netip.ParseAddr(host); err == nil && !privateIP(ip) {
			return nil, fmt.Errorf("clamd address %q: %s is a public address; clamd's protocol is unencrypted and unauthenticated, so use a unix socket, loopback or a private address", address, host)
		}
	default:
		return nil, fmt.Errorf("clamd address %q: want unix:/path or tcp:host:port", address)
	}
	return c, nil
}

// CheckConfig checks the gateway's [scan] values and returns each problem
// by key: clamd's address (as New; "" is off), the policy while clamd is
// unavailable ("refuse" or "accept"), and the largest file scanned (more
// than 0, at most clamd's ceiling for StreamMaxLength, 4 GiB).
func CheckConfig(address, onUnavailable string, maxSize int64) map[string]error {
	problems := map[string]error{}
	if _, err := New(address); address != "" && err != nil {
		problems["clamd"] = err
	}
	if onUnavailable != "refuse" && onUnavailable != "accept" {
		problems["on_unavailable"] = fmt.Errorf(`must be "refuse" or "accept", got %q`, onUnavailable)
	}
	if maxSize <= 0 || maxSize > 4<<30 {
		problems["max_size"] = fmt.Errorf("must be more than 0 and at most 4GiB (clamd's largest StreamMaxLength), got %s", sizeText(maxSize))
	}
	return problems
}

// String is the address as New took it.
func (c *Client) String() string { return c.network + ":" + c.addr }

// privateIP reports whether ip is loopback or private (RFC 1918, RFC 4193).
func privateIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate()
}

// errPublicAddress refuses a host name that resolved to a public address.
var errPublicAddress = errors.New("clamd resolved to a public address")

// dial connects to clamd; a tcp connection to a public address is refused
// after resolution, so a host name cannot lead the stream off the network.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: c.Timeout}
	if c.network == "tcp" {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !privateIP(ap.Addr()) {
				return fmt.Errorf("%w: %s", errPublicAddress, address)
			}
			return nil
		}
	}
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return nil, &UnavailableError{Err: err}
	}
	return conn, nil
}

// command sends one z-command (NUL-terminated) and returns clamd's
// NUL-terminated answer.
func (c *Client) command(ctx context.Context, name string) (string, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.Timeout))
	if _, err := conn.Write([]byte("z" + name + "\x00")); err != nil {
		return "", &UnavailableError{Err: fmt.Errorf("send %s: %w", name, err)}
	}
	reply, err := bufio.NewReader(conn).ReadString(0)
	if err != nil {
		return "", &UnavailableError{Err: fmt.Errorf("read %s answer: %w", name, err)}
	}
	return strings.TrimSuffix(reply, "\x00"), nil
}

// Ping checks that clamd answers.
func (c *Client) Ping(ctx context.Context) error {
	reply, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return &ClamdError{Reply: reply}
	}
	return nil
}

// Version is what clamd says of itself.
type Version struct {
	Engine   string    // "1.4.6"
	Database int       // the signature database's version (daily), 0 when clamd has none
	Built    time.Time // when that database was built, zero when clamd has none
}

// String is the form kept on objects and in the trail: "ClamAV 1.4.6/27000".
func (v Version) String() string {
	if v.Database == 0 {
		return "ClamAV " + v.Engine
	}
	return fmt.Sprintf("ClamAV %s/%d", v.Engine, v.Database)
}

// Age is how old the signature database is at now.
func (v Version) Age(now time.Time) time.Duration { return now.Sub(v.Built) }

// Version asks clamd for its engine and database versions.
func (c *Client) Version(ctx context.Context) (Version, error) {
	reply, err := c.command(ctx, "VERSION")
	if err != nil {
		return Version{}, err
	}
	v, err := parseVersion(reply)
	if err != nil {
		return Version{}, &ClamdError{Reply: reply}
	}
	return v, nil
}

// parseVersion reads "ClamAV 1.4.6/27000/Mon Nov 30 07:41:00 2026" (or
// "ClamAV 1.4.6" without a database). The date is clamd's local time, read
// in the gateway's: they are expected to share a host or a network.
func parseVersion(reply string) (Version, error) {
	engine, ok := strings.CutPrefix(reply, "ClamAV ")
	if !ok {
		return Version{}, fmt.Errorf("not a ClamAV version: %q", reply)
	}
	parts := strings.SplitN(engine, "/", 3)
	v := Version{Engine: parts[0]}
	if len(parts) == 1 {
		return v, nil
	}
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q: want engine/database/date", reply)
	}
	db, err := strconv.Atoi(parts[1])
	if err != nil {
		return Version{}, fmt.Errorf("database version %q: %w", parts[1], err)
	}
	built, err := time.ParseInLocation(time.ANSIC, parts[2], time.Local)
	if err != nil {
		return Version{}, fmt.Errorf("database date %q: %w", parts[2], err)
	}
	v.Database, v.Built = db, built
	return v, nil
}

// InfectedError is clamd's verdict that a file holds malware. Its text is
// written for the partner.
type InfectedError struct{ Signature string }

func (e *InfectedError) Error() string {
	return "upload refused: the file contains malware (" + e.Signature + ")"
}

// TooLargeError refuses a file larger than what is scanned. Its text is
// written for the partner.
type TooLargeError struct{ Max int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("upload refused: files larger than %s cannot be scanned for malware here", sizeText(e.Max))
}

// LimitsError is clamd's report that a file exceeds what it checks (its
// MaxFileSize, MaxScanSize, or an archive's nesting or size limits): it
// was not scanned whole, so it is not passed. Its text is written for the
// partner.
type LimitsError struct{ Signature string }

func (e *LimitsError) Error() string {
	return "upload refused: the file exceeds what the malware scanner can check (its size, or an archive's nesting)"
}

// UnavailableError is a clamd that could not be reached or stopped
// answering: no verdict. Its text names the address and is for the log;
// the partner reads UnavailableMessage.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "clamd unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// ClamdError is clamd answering with an error or something unexpected: no
// verdict either. Its text is for the log.
type ClamdError struct{ Reply string }

func (e *ClamdError) Error() string { return "clamd answered " + strconv.Quote(e.Reply) }

// UnavailableMessage is what a partner reads when an upload is refused
// because no verdict could be had (UnavailableError, ClamdError).
const UnavailableMessage = "upload refused: the malware scanner is unavailable; try again later"

// Refusal is what the partner reads of a scan's error, and whether the
// error is no verdict at all (clamd unavailable, or answering nonsense),
// which [scan] on_unavailable decides: refuse, or store the file unscanned.
func Refusal(err error) (msg string, noVerdict bool) {
	var infected *InfectedError
	var tooLarge *TooLargeError
	var limits *LimitsError
	switch {
	case errors.As(err, &infected):
		return infected.Error(), false
	case errors.As(err, &tooLarge):
		return tooLarge.Error(), false
	case errors.As(err, &limits):
		return limits.Error(), false
	}
	return UnavailableMessage, true
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	default:
		return strconv.FormatInt(n, 10) + " bytes"
	}
}
