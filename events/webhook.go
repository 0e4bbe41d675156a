package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Webhook posts each event's JSON to a URL, signed with a shared secret, so
// a receiver can tell the gateway's events from anyone else's POST.
type Webhook struct {
	url    string
	name   string
	secret []byte
	client *http.Client
}

// Headers of a webhook request.
const (
	HeaderSignature = "X-S3sftpd-Signature" // "sha256=" and the hex HMAC-SHA256 of the raw body under the secret
	HeaderEventID   = "X-S3sftpd-Event-Id"  // the event's id: the same on every retry
	HeaderEventType = "X-S3sftpd-Event-Type"
)

// webhookTimeout bounds one request, connection and answer included.
const webhookTimeout = 10 * time.Second

// MinSecret is the shortest webhook secret accepted: 256 bits.
const MinSecret = 32

// NewWebhook makes the sink for rawURL (CheckWebhookURL's rules) signing
// with secret. Over http it connects only to loopback addresses, checked
// after DNS resolution, so a host name cannot send PHI in clear over the
// network; it follows no redirect, and goes through no proxy over http.
func NewWebhook(rawURL string, secret []byte) (*Webhook, error) {
	if err := CheckWebhookURL(rawURL); err != nil {
		return nil, err
	}
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("webhook secret holds %d bytes; it needs at least %d", len(secret), MinSecret)
	}
	u, _ := url.Parse(rawURL) // checked
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "http" {
		d := &net.Dialer{Timeout: webhookTimeout, Control: loopbackOnly}
		tr.DialContext, tr.Proxy = d.DialContext, nil
	}
	return &Webhook{
		url:    rawURL,
		name:   "webhook " + u.Scheme + "://" + u.Host + u.Path, // no query: it may hold a token
		secret: secret,
		client: &http.Client{Transport: tr, Timeout: webhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// Name is "webhook " and the URL without its query.
func (w *Webhook) Name() string { return w.name }

// Deliver posts body; a 2xx answer is delivered, anything else (a
// redirect included) is to be retried.
func (w *Webhook) Deliver(ctx context.Context, id, typ, _ string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "s3sftpd-events")
	req.Header.Set(HeaderSignature, Sign(w.secret, body))
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderEventType, typ)
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, query included
		}
		return fmt.Errorf("post event: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post event: the receiver answered %s", resp.Status)
	}
	return nil
}

// Sign is the signature header's value for body: "sha256=" and the hex
// HMAC-SHA256 of the raw bytes under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// errPublicAddress refuses an http webhook whose host resolved off loopback.
var errPublicAddress = errors.New("http webhook resolved to a non-loopback address; use https")

// loopbackOnly is the dialer's check of the address it is about to connect
// to, after resolution.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("%w: %s", errPublicAddress, address)
	}
	return nil
}
