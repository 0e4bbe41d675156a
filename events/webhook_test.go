package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// TestWebhook_Signed: the receiver gets the raw body, JSON, with the id and
// an HMAC-SHA256 of exactly those bytes, which it checks as docs/events.md
// says (constant-time compare of the hex).
func TestWebhook_Signed(t *testing.T) {
	body := []byte(`{"id":"abc","type":"upload"}`)
	var seen atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, testSecret)
		m.Write(got)
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		switch {
		case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json":
			t.Errorf("got %s with content type %q; want a POST of application/json", r.Method, r.Header.Get("Content-Type"))
		case !hmac.Equal([]byte(r.Header.Get(HeaderSignature)), []byte(want)):
			t.Errorf("got signature %q; want %q", r.Header.Get(HeaderSignature), want)
		case r.Header.Get(HeaderEventID) != "abc" || string(got) != string(body):
			t.Errorf("got id %q, body %s; want abc and the body sent", r.Header.Get(HeaderEventID), got)
		}
		seen.Store(true)
	}))
	defer srv.Close()
	w, err := NewWebhook(srv.URL+"/hook?token=t0ps3cret", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Deliver(context.Background(), "abc", "upload", "acme", body); err != nil {
		t.Fatalf("got %v; want delivered", err)
	}
	if !seen.Load() {
		t.Fatal("the receiver got nothing")
	}
	if strings.Contains(w.Name(), "t0ps3cret") {
		t.Errorf("got name %q; want no query (it may hold a token)", w.Name())
	}
}

func TestWebhook_Non2xxIsRetried(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusBadRequest, http.StatusFound} {
		var hitTarget atomic.Bool
		mux := http.NewServeMux()
		mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
			if status == http.StatusFound {
				http.Redirect(w, r, "/elsewhere", status)
				return
			}
			w.WriteHeader(status)
		})
		mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { hitTarget.Store(true) })
		srv := httptest.NewServer(mux)
		w, err := NewWebhook(srv.URL+"/hook", testSecret)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Deliver(context.Background(), "id", "upload", "u", []byte("{}")); err == nil {
			t.Errorf("status %d: got delivered; want an error to retry", status)
		}
		if hitTarget.Load() {
			t.Errorf("status %d: the redirect was followed; want none followed", status)
		}
		srv.Close()
	}
}

// TestWebhook_HTTPOnlyToLoopback: http to any host but loopback is refused
// by the check, and by the dialer after resolution.
func TestWebhook_HTTPOnlyToLoopback(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.org/x", true},
		{"https://10.1.2.3:8443/x", true},
		{"http://127.0.0.1:8080/x", true},
		{"http://localhost:8080/x", true},
		{"http://[::1]:8080/x", true},
		{"http://hooks.example.org/x", false},
		{"http://10.1.2.3/x", false},
		{"http://127.0.0.1.example.org/x", false},
		{"ftp://127.0.0.1/x", false},
		{"https://u:p@hooks.example.org/x", false},
		{"hooks.example.org/x", false},
		{"", false},
	} {
		if err := CheckWebhookURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("CheckWebhookURL(%q) = %v; want ok %v", tt.url, err, tt.ok)
		}
	}
	for _, addr := range []string{"10.1.2.3:80", "192.168.0.1:80", "8.8.8.8:80", "[2001:db8::1]:80"} {
		if err := loopbackOnly("tcp4", addr, nil); !errors.Is(err, errPublicAddress) {
			t.Errorf("loopbackOnly(%s) = %v; want refused", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:80", "[::ffff:127.0.0.1]:80"} {
		if err := loopbackOnly("tcp", addr, nil); err != nil {
			t.Errorf("loopbackOnly(%s) = %v; want allowed", addr, err)
		}
	}
	if _, err := NewWebhook("https://hooks.example.org/x", testSecret[:31]); err == nil {
		t.Error("got a webhook with a 31-byte secret; want refused")
	}
}
