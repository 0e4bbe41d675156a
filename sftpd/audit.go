package sftpd

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
)

// Session events of the audit trail: connect, every authentication attempt
// but the "none" probe, and disconnect. The callbacks are bound to one
// connection through its own copy of the server config; they record what the
// client presented and never a secret (x/crypto never hands a password to
// AuthLogCallback, and a key is recorded only by type and fingerprint).

// sshConfig is the server config for this connection: the shared algorithms
// and host keys, with callbacks that record to this connection's audit session.
func (c *conn) sshConfig() *ssh.ServerConfig {
	cfg := *c.s.config
	lookup := cfg.PublicKeyCallback
	cfg.PreAuthConnCallback = func(meta ssh.ServerPreAuthConn) {
		c.connected = true
		c.audit.Record(audit.Record{Event: audit.EventConnect, Result: audit.ResultOK,
			Remote: meta.RemoteAddr().String(), Client: string(meta.ClientVersion())})
	}
	cfg.PublicKeyCallback = func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		c.offered = key
		return lookup(meta, key)
	}
	verified := cfg.VerifiedPublicKeyCallback
	cfg.VerifiedPublicKeyCallback = func(meta ssh.ConnMetadata, key ssh.PublicKey, p *ssh.Permissions, algo string) (*ssh.Permissions, error) {
		c.offered = key
		p, err := verified(meta, key, p, algo)
		var partial *ssh.PartialSuccessError
		if errors.As(err, &partial) {
			c.verified = key // the password comes next
		}
		if err != nil {
			return nil, err
		}
		c.verified = key // the key that signed, whatever was offered after it
		return p, nil
	}
	cfg.AuthLogCallback = c.authAttempt
	return &cfg
}

// authAttempt records one authentication attempt and logs failures.
func (c *conn) authAttempt(meta ssh.ConnMetadata, method string, err error) {
	if method == "none" { // every client asks first which methods exist
		return
	}
	user := audit.Bound(meta.User(), audit.MaxName) // the client's choice, up to 256 KB
	r := audit.Record{Event: audit.EventAuth, User: user, Method: method, Result: audit.ResultOK}
	if method == "publickey" && c.offered != nil {
		r.KeyType, r.KeyFP = c.offered.Type(), auth.Fingerprint(c.offered)
		if cert, ok := c.offered.(*ssh.Certificate); ok { // the key's fingerprint, as the log has it, and which certificate
			serial := cert.Serial
			r.KeyFP, r.CertID, r.CertSerial = auth.Fingerprint(cert.Key), cert.KeyId, &serial
		}
	}
	var partial *ssh.PartialSuccessError
	switch {
	case errors.As(err, &partial):
		r.Reason = "partial success: password required next"
	case err != nil:
		r.Result, r.Reason = audit.ResultDenied, authFailure(method, err)
		c.log.Warn("auth failed", "user", user, "method", audit.Bound(method, audit.MaxName), "reason", r.Reason)
		c.noteFailure(user)
	}
	c.audit.Record(r)
	c.offered = nil
}

// authFailure is the reason category of a failed attempt.
func authFailure(method string, err error) string {
	switch {
	case errors.Is(err, auth.ErrRestricted), errors.Is(err, errSHA1Signature), errors.Is(err, errPasswordAlone), errors.Is(err, errMethodNotFirst):
		return err.Error()
	case method == "password" && errors.Is(err, errAuth):
		return "unknown user or wrong password"
	case method != "publickey":
		return "method not allowed"
	case errors.Is(err, errAuth):
		return "unknown user or key"
	}
	return "key type or signature algorithm not allowed"
}

// handshakeFailed ends a connection that never logged in, with the reason,
// and records it. A peer that left before sending a byte (a port probe, a
// load balancer's health check) is not a session and leaves no record.
func (c *conn) handshakeFailed(err error) {
	var authErr *ssh.ServerAuthError
	switch {
	case c.admitted != nil && c.admitted.Evicted():
		err = errEvicted
		c.cancel(errEvicted)
	case errors.As(err, &authErr):
		c.cancel(errAuthFailed)
	default:
		c.cancel(fmt.Errorf("handshake failed: %w", err))
	}
	if !c.connected {
		if c.nc.in.Load() == 0 {
			return
		}
		c.connected = true
		c.audit.Record(audit.Record{Event: audit.EventConnect, Result: audit.ResultError,
			Remote: c.nc.RemoteAddr().String(), Error: "handshake failed: " + err.Error()})
	}
}

// disconnected records the end of a connection that was recorded as connected.
func (c *conn) disconnected(start time.Time, reason error) {
	if !c.connected {
		return
	}
	c.audit.Record(audit.Record{Event: audit.EventDisconnect, Result: audit.ResultOK, Reason: reason.Error(),
		DurMS: audit.Int(time.Since(start).Milliseconds()), BytesIn: audit.Int(c.nc.in.Load()), BytesOut: audit.Int(c.nc.out.Load())})
}

// refused records a request the server does not serve (a shell, exec, port
// forwarding): someone tried more than file transfer.
func (c *conn) refused(op, msg string) {
	c.audit.Record(audit.Record{Event: audit.EventRefused, Op: op, Result: audit.ResultDenied, Reason: "unsupported", Error: msg})
}

// refusedOpen records a transfer refused because the server is shutting down.
func (c *conn) refusedOpen(mode, path string, err error) {
	c.audit.Record(audit.Record{Event: audit.EventOpen, Mode: mode, Path: path, Result: audit.ResultDenied, Reason: "shutdown", Error: err.Error()})
}

// countingConn counts the bytes of a connection, SSH framing and encryption
// included, for the disconnect record.
type countingConn struct {
	net.Conn
	in, out atomic.Int64
}

func (cc *countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.in.Add(int64(n))
	return n, err
}

func (cc *countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.out.Add(int64(n))
	return n, err
}
