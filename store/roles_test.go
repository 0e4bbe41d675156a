package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// dialWrongKeys dials srv with credentials it refuses, so only calls made
// with the assumed role's credentials (the replay hands out srv's) succeed.
func dialWrongKeys(t *testing.T, srv *s3test.Server, sts *s3test.STSReplay) *Store {
	t.Helper()
	st, err := Dial(context.Background(), Config{
		Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKeyID: "AKIDNOTTHEGATEWAYS", SecretAccessKey: "wrong-secret", STSEndpoint: sts.URL,
		SSE: SSEAES256, Checksums: ChecksumsCompat,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRoles_RefreshBeforeExpiry(t *testing.T) {
	srv := s3test.Start(t)
	sts := s3test.StartSTS(t, srv, 3*time.Second)
	st := dialWrongKeys(t, srv, sts)
	st.roles.expiryWindow = 2 * time.Second // credentials of 3s count as expired after 1s
	ctx := WithTenant(context.Background(), &auth.Tenant{User: "acme", Bucket: srv.Bucket, Prefix: "partners/acme/",
		Perms: auth.AllPerms, RoleARN: "arn:aws:iam::123456789012:role/sftp-acme"})
	list := func() {
		t.Helper()
		if _, err := st.S3().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("partners/acme/")}); err != nil {
			t.Fatalf("list with the role: %v", err)
		}
	}
	list()
	list()
	if n := len(sts.Calls()); n != 1 {
		t.Fatalf("AssumeRole called %d times for fresh credentials; want 1", n)
	}
	time.Sleep(1500 * time.Millisecond)
	list()
	calls := sts.Calls()
	if len(calls) != 2 {
		t.Fatalf("AssumeRole called %d times once the credentials were inside the expiry window; want 2", len(calls))
	}
	if calls[1].Get("ExternalId") != "" || !strings.Contains(calls[1].Get("Policy"), "partners/acme/") {
		t.Errorf("refresh request = %v; want the same policy and no external id", calls[1])
	}
}

// TestStore_CheckRoleRefusesAnOverlongPolicy: presign refuses a role user
// whose session policy STS would reject before it signs anything.
func TestStore_CheckRoleRefusesAnOverlongPolicy(t *testing.T) {
	st, err := Dial(context.Background(), Config{Region: "us-east-1", SSE: SSEAES256, Checksums: ChecksumsAWS,
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::123456789012:role/sftp-acme"
	if err := st.CheckRole(&auth.Tenant{User: "acme", Bucket: "b", Prefix: "partners/acme/", Perms: auth.AllPerms, RoleARN: role}); err != nil {
		t.Errorf("CheckRole of a short home = %v; want nil", err)
	}
	if err := st.CheckRole(&auth.Tenant{User: "beta", Bucket: "b", Prefix: strings.Repeat("deep/", 200), Perms: auth.AllPerms}); err != nil {
		t.Errorf("CheckRole of a user without a role = %v; want nil (no policy is sent)", err)
	}
	err = st.CheckRole(&auth.Tenant{User: "acme", Bucket: "b", Prefix: strings.Repeat("deep/", 200), Perms: auth.AllPerms, RoleARN: role})
	if err == nil || !strings.Contains(err.Error(), "above STS's 2048") {
		t.Errorf("CheckRole of an overlong policy = %v; want refused", err)
	}
}
