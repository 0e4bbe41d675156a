package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// TestPresignGet_OnlyWhatSFTPWouldServe: a URL is handed out for a file the
// user could download, and serves its bytes; every other request is a
// *Refusal whose trail text is its own fixed message.
func TestPresignGet_OnlyWhatSFTPWouldServe(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.s3.Put(t, "home/a/f.csv", []byte("hello"))
	e.s3.Put(t, "home/a/b/f.csv", []byte("what a cleaned \"..\" would reach"))
	putRaw(t, e, "home/a/sealed.csv", []byte("ciphertext"), map[string]string{objfmt.MetaVersion: objfmt.Version})
	reader := &auth.Tenant{User: "a", Bucket: e.s3.Bucket, Prefix: "home/a/", Perms: auth.PermRead}

	signed, err := PresignGet(ctx, e.st, e.cfg, reader, "/f.csv", time.Minute)
	if err != nil || signed.Key != "home/a/f.csv" {
		t.Fatalf("PresignGet = %+v, %v; want a URL for home/a/f.csv", signed, err)
	}
	resp, err := http.Get(signed.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Errorf("GET of the URL = %d %q; want 200 \"hello\"", resp.StatusCode, body)
	}

	envelope := e.cfg
	envelope.Envelope, envelope.Keys = true, testKeyring(t)
	for name, c := range map[string]struct {
		tenant *auth.Tenant
		path   string
		cfg    bool // envelope mode
	}{
		"no-read":       {&auth.Tenant{Bucket: e.s3.Bucket, Prefix: "home/a/", Perms: auth.PermWrite}, "/f.csv", false},
		"climbs-out":    {reader, "/../b/f.csv", false},
		"home":          {reader, "/", false},
		"missing":       {reader, "/nothing.csv", false},
		"sealed-object": {reader, "/sealed.csv", false},
		"envelope-mode": {reader, "/f.csv", true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := e.cfg
			if c.cfg {
				cfg = envelope
			}
			_, err := PresignGet(ctx, e.st, cfg, c.tenant, c.path, time.Minute)
			var refusal *Refusal
			if !errors.As(err, &refusal) || PresignTrailText(err) != err.Error() {
				t.Errorf("PresignGet = %v; want a *Refusal recorded as its own message", err)
			}
		})
	}
}

// TestPresignGet_Folders: a path is resolved through the user's tree as a
// session resolves it: a folder with read gives a URL for its own bucket
// and prefix; a write-only folder, the virtual "/" and a folder's root are
// refused.
func TestPresignGet_Folders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.s3.InOtherBucket(t)
	e.s3.Put(t, "outbound/acme/report.pdf", []byte("report"))
	other.Put(t, "inbound/acme/labs.csv", []byte("labs"))
	acme := &auth.Tenant{User: "acme", Folders: []auth.Folder{
		{Path: "/inbound", Bucket: other.Bucket, Prefix: "inbound/acme/", Perms: auth.PermWrite},
		{Path: "/outbound", Bucket: e.s3.Bucket, Prefix: "outbound/acme/", Perms: auth.PermList | auth.PermRead},
	}}
	signed, err := PresignGet(ctx, e.st, e.cfg, acme, "/outbound/report.pdf", time.Minute)
	if err != nil || signed.Key != "outbound/acme/report.pdf" {
		t.Fatalf("PresignGet of /outbound/report.pdf = %+v, %v; want a URL for outbound/acme/report.pdf", signed, err)
	}
	resp, err := http.Get(signed.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "report" {
		t.Errorf("GET of the URL = %d %q; want 200 \"report\"", resp.StatusCode, body)
	}
	for path, want := range map[string]string{
		"/inbound/labs.csv": "presign refused: downloading is not permitted for this user",
		"/":                 "presign refused: it is a directory",
		"/outbound":         "presign refused: it is a directory",
		"/elsewhere.csv":    "presign refused: no such file",
	} {
		_, err := PresignGet(ctx, e.st, e.cfg, acme, path, time.Minute)
		var refusal *Refusal
		if !errors.As(err, &refusal) || err.Error() != want {
			t.Errorf("PresignGet of %s = %v; want the refusal %q", path, err, want)
		}
	}
}
