package s3fs

import (
	"bytes"
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/store"
)

// rolesOn builds an FS whose own credentials are wrong, so only calls made
// with the assumed role's credentials can succeed on a store that checks.
func rolesOn(t *testing.T, srv *s3test.Server, sts *s3test.STSReplay) (*FS, store.S3, Config) {
	t.Helper()
	cfg := testConfig(srv, ChecksumsCompat)
	cfg.AccessKeyID, cfg.SecretAccessKey = "AKIDNOTTHEGATEWAYS", "wrong-secret"
	cfg.STSEndpoint = sts.URL
	roles, err := dialStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := New(objectsOver(roles, cfg), cfg, testLog())
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
	sts := s3test.StartSTS(t, srv, time.Hour)
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

	calls := sts.Calls()
	if len(calls) != 1 {
		t.Fatalf("AssumeRole called %d times; want 1 (credentials cached per user)", len(calls))
	}
	policy, err := store.SessionPolicy(tenant, false, "", cfg.Region)
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
	if _, err := roles.HeadObject(store.WithTenant(context.Background(), plain), &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("partners/acme/in.bin")}); err == nil && srv.Root != "" {
		t.Errorf("a user without role_arn got the role's credentials")
	}
	if n := len(sts.Calls()); n != 1 {
		t.Errorf("AssumeRole called %d times after calls without a role; want 1", n)
	}
}
