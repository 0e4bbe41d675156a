package s3fs

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// stsReplay answers AssumeRole with the recorded AWS response, handing out
// the store's real keys as the role's credentials, and keeps every request.
// There is no STS-compatible server to run here; this checks what the SDK
// sends and that the gateway signs with what comes back. The session token
// is left empty: versitygw refuses any token (InvalidToken).
type stsReplay struct {
	url      string
	lifetime time.Duration

	mu       sync.Mutex
	requests []url.Values
}

func startSTS(t *testing.T, srv *s3test.Server, lifetime time.Duration) *stsReplay {
	t.Helper()
	tmpl := template.Must(template.ParseFiles("testdata/assume-role-response.xml"))
	r := &stsReplay{lifetime: lifetime}
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
	r.url = hs.URL
	return r
}

func (r *stsReplay) calls() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]url.Values(nil), r.requests...)
}

// rolesOn builds an FS whose own credentials are wrong, so only calls made
// with the assumed role's credentials can succeed on a store that checks.
func rolesOn(t *testing.T, srv *s3test.Server, sts *stsReplay) (*FS, *Roles, Config) {
	t.Helper()
	cfg := testConfig(srv, ChecksumsCompat)
	cfg.AccessKeyID, cfg.SecretAccessKey = "AKIDNOTTHEGATEWAYS", "wrong-secret"
	base, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stsClient, err := DialSTS(context.Background(), cfg, sts.url)
	if err != nil {
		t.Fatal(err)
	}
	roles := NewRoles(base, stsClient, cfg)
	fsys, err := New(roles, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	return fsys, roles, cfg
}

func pipeSession(t *testing.T, fsys *FS, tenant *auth.Tenant) *sftp.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	serverConn, clientConn := net.Pipe()
	rs := sftp.NewRequestServer(serverConn, fsys.Handlers(ctx, tenant, testLog(), nil), sftp.WithStartDirectory("/"))
	done := make(chan struct{})
	go func() { rs.Serve(); close(done) }()
	c, err := sftp.NewClientPipe(clientConn, clientConn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); clientConn.Close(); <-done; cancel() })
	return c
}

func TestRoles_AssumeRoleFlow(t *testing.T) {
	srv := s3test.Start(t)
	sts := startSTS(t, srv, time.Hour)
	fsys, roles, cfg := rolesOn(t, srv, sts)
	tenant := &auth.Tenant{User: "acme", Bucket: srv.Bucket, Prefix: "partners/acme/", Perms: auth.AllPerms,
		RoleARN: "arn:aws:iam::123456789012:role/sftp-acme", ExternalID: "acme-4711"}

	data := bytes.Repeat([]byte("phi "), 3<<20) // 12 MiB: multipart
	for i := range 2 {                          // two sessions share the cached credentials
		c := pipeSession(t, fsys, tenant)
		f, err := c.OpenFile("/in.bin", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			t.Fatalf("session %d: open: %v", i, err)
		}
		if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
			t.Fatalf("session %d: write: %v", i, err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("session %d: close: %v", i, err)
		}
	}
	if got, _ := srv.Get(t, "partners/acme/in.bin"); !bytes.Equal(got, data) {
		t.Errorf("stored %d bytes; want the %d written with the role's credentials", len(got), len(data))
	}

	calls := sts.calls()
	if len(calls) != 1 {
		t.Fatalf("AssumeRole called %d times; want 1 (credentials cached per user)", len(calls))
	}
	policy, err := SessionPolicy(tenant, false, "", cfg.Region)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Action": "AssumeRole", "RoleArn": tenant.RoleARN, "ExternalId": "acme-4711", "SourceIdentity": "acme",
		"RoleSessionName": "s3sftpd-acme", "DurationSeconds": "3600", "Policy": policy,
	} {
		if got := calls[0].Get(k); got != want {
			t.Errorf("AssumeRole %s = %q; want %q", k, got, want)
		}
	}

	// Calls without a tenant (the sweeper, the audit copy) use the
	// gateway's own credentials, which this store refuses.
	if srv.Root != "" { // versitygw checks signatures; the embedded store does not
		if _, err := roles.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("partners/acme/in.bin")}); err == nil {
			t.Errorf("a call without a tenant succeeded with the role's credentials")
		}
	}
	// A user without a role uses them too.
	plain := &auth.Tenant{User: "beta", Bucket: srv.Bucket, Prefix: "partners/beta/", Perms: auth.AllPerms}
	if _, err := roles.HeadObject(withTenant(context.Background(), plain), &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("partners/acme/in.bin")}); err == nil && srv.Root != "" {
		t.Errorf("a user without role_arn got the role's credentials")
	}
	if n := len(sts.calls()); n != 1 {
		t.Errorf("AssumeRole called %d times after calls without a role; want 1", n)
	}
}

func TestRoles_RefreshBeforeExpiry(t *testing.T) {
	srv := s3test.Start(t)
	sts := startSTS(t, srv, 3*time.Second)
	_, roles, _ := rolesOn(t, srv, sts)
	roles.expiryWindow = 2 * time.Second // credentials of 3s count as expired after 1s
	ctx := withTenant(context.Background(), &auth.Tenant{User: "acme", Bucket: srv.Bucket, Prefix: "partners/acme/",
		Perms: auth.AllPerms, RoleARN: "arn:aws:iam::123456789012:role/sftp-acme"})
	list := func() {
		t.Helper()
		if _, err := roles.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("partners/acme/")}); err != nil {
			t.Fatalf("list with the role: %v", err)
		}
	}
	list()
	list()
	if n := len(sts.calls()); n != 1 {
		t.Fatalf("AssumeRole called %d times for fresh credentials; want 1", n)
	}
	time.Sleep(1500 * time.Millisecond)
	list()
	calls := sts.calls()
	if len(calls) != 2 {
		t.Fatalf("AssumeRole called %d times once the credentials were inside the expiry window; want 2", len(calls))
	}
	if calls[1].Get("ExternalId") != "" || !strings.Contains(calls[1].Get("Policy"), "partners/acme/") {
		t.Errorf("refresh request = %v; want the same policy and no external id", calls[1])
	}
}
