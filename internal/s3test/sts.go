package s3test

import (
	_ "embed"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"text/template"
	"time"
)

//go:embed assume-role-response.xml
var assumeRoleResponse string

// STSReplay answers AssumeRole with the recorded AWS response, handing out
// the store's real keys as the role's credentials, and keeps every request.
// There is no STS-compatible server to run here; this checks what the SDK
// sends and that the gateway signs with what comes back. The session token
// is left empty: versitygw refuses any token (InvalidToken).
type STSReplay struct {
	URL      string
	lifetime time.Duration

	mu       sync.Mutex
	requests []url.Values
}

// StartSTS serves AssumeRole on a free loopback port until the test ends;
// the credentials it hands out are srv's and expire after lifetime.
func StartSTS(t testing.TB, srv *Server, lifetime time.Duration) *STSReplay {
	t.Helper()
	tmpl := template.Must(template.New("assume-role").Parse(assumeRoleResponse))
	r := &STSReplay{lifetime: lifetime}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := req.ParseForm(); err != nil {
			t.Error(err)
		}
		r.mu.Lock()
		r.requests = append(r.requests, req.PostForm)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		tmpl.Execute(w, map[string]string{"User": req.PostForm.Get("SourceIdentity"), "AccessKeyID": srv.AccessKey,
			"SecretAccessKey": srv.SecretKey, "SessionToken": "", "Expiration": time.Now().Add(r.lifetime).UTC().Format(time.RFC3339)})
	})}}
	hs.Start()
	t.Cleanup(hs.Close)
	r.URL = hs.URL
	return r
}

// Calls are the AssumeRole requests so far, as their form values.
func (r *STSReplay) Calls() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]url.Values(nil), r.requests...)
}
