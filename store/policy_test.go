package store

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/auth"
)

// TestSessionPolicy compares generated session policies with the expected
// documents in testdata, as JSON values.
func TestSessionPolicy(t *testing.T) {
	tests := []struct {
		file   string
		tenant auth.Tenant
		kms    bool
		keyARN string
		region string
	}{
		{"policy-all-perms.json", auth.Tenant{User: "acme", Bucket: "partner-drop", Prefix: "partners/acme/", Perms: auth.AllPerms},
			false, "", "us-east-1"},
		{"policy-read-only-kms-key.json", auth.Tenant{User: "acme", Bucket: "partner-drop", Prefix: "outbox/acme/", Perms: auth.PermList | auth.PermRead},
			true, "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "eu-west-1"},
		{"policy-write-only-access-point-managed-kms.json", auth.Tenant{User: "acme", Bucket: "arn:aws:s3:eu-west-1:123456789012:accesspoint/acme",
			Prefix: "inbox/", Perms: auth.PermWrite}, true, "alias/sftp", "eu-west-1"},
		{"policy-govcloud-delete.json", auth.Tenant{User: "lab", Bucket: "phi-exchange", Prefix: "lab/", Perms: auth.PermRead | auth.PermDelete},
			false, "", "us-gov-west-1"},
		{"policy-folders-two-buckets.json", auth.Tenant{User: "acme", Bucket: "phi", Prefix: "partners/acme/", Perms: auth.PermList | auth.PermRead,
			Folders: []auth.Folder{
				{Path: "/inbound", Bucket: "phi-inbound", Prefix: "inbound/acme/", Perms: auth.PermWrite | auth.PermMkdir},
				{Path: "/outbound", Bucket: "phi", Prefix: "outbound/acme/", Perms: auth.PermList | auth.PermRead | auth.PermDelete},
			}}, false, "", "us-east-1"},
		{"policy-folders-no-home-access-point-kms.json", auth.Tenant{User: "lab", Bucket: "phi", Perms: auth.AllPerms,
			Folders: []auth.Folder{
				{Path: "/inbound", Bucket: "arn:aws:s3:eu-west-1:123456789012:accesspoint/lab-in", Prefix: "inbound/lab/", Perms: auth.PermWrite},
				{Path: "/outbound", Bucket: "phi", Prefix: "outbound/lab/", Perms: auth.PermList | auth.PermRead | auth.PermDelete},
				{Path: "/shared", Bucket: "phi", Prefix: "hospital/shared/", Perms: auth.PermList | auth.PermRead},
			}}, true, "alias/sftp", "eu-west-1"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			got, err := SessionPolicy(&tt.tenant, tt.kms, tt.keyARN, tt.region)
			if err != nil {
				t.Fatal(err)
			}
			wantText, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var gotDoc, wantDoc any
			if err := json.Unmarshal([]byte(got), &gotDoc); err != nil {
				t.Fatalf("policy is not JSON: %v\n%s", err, got)
			}
			if err := json.Unmarshal(wantText, &wantDoc); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantDoc, gotDoc); diff != "" {
				t.Errorf("policy mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSessionPolicy_NoPlace: a tenant with neither home nor folders gets no
// policy, rather than one whose empty prefix would grant the whole bucket.
func TestSessionPolicy_NoPlace(t *testing.T) {
	if p, err := SessionPolicy(&auth.Tenant{User: "acme", Bucket: "phi", Perms: auth.AllPerms}, false, "", "us-east-1"); err == nil {
		t.Errorf("got policy %s; want an error", p)
	}
}

func TestSessionPolicy_TooLong(t *testing.T) {
	tenant := &auth.Tenant{User: "acme", Bucket: "b", Prefix: strings.Repeat("deep/", 200), Perms: auth.AllPerms}
	if _, err := SessionPolicy(tenant, false, "", "us-east-1"); err == nil {
		t.Errorf("a policy above STS's 2048 characters was accepted")
	}
}

// TestSessionPolicy_PickupDeletesVersions: a delete_after_download folder
// lets the session delete the version a download read, and only there.
func TestSessionPolicy_PickupDeletesVersions(t *testing.T) {
	tn := auth.Tenant{User: "acme", Bucket: "phi", Folders: []auth.Folder{
		{Path: "/outbound", Bucket: "phi", Prefix: "outbound/acme/", Perms: auth.PermList | auth.PermRead | auth.PermDelete,
			Lifecycle: auth.Lifecycle{DeleteAfterDownload: true}},
		{Path: "/reports", Bucket: "phi", Prefix: "reports/acme/", Perms: auth.PermList | auth.PermRead | auth.PermDelete},
	}}
	got, err := SessionPolicy(&tn, false, "", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDoc
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatal(err)
	}
	for _, st := range doc.Statement {
		versions := strings.Contains(strings.Join(st.Action, " "), "s3:DeleteObjectVersion")
		for _, res := range st.Resource {
			if want := strings.Contains(res, "outbound/acme/"); versions != want {
				t.Errorf("statement %s for %s: s3:DeleteObjectVersion granted %v; want %v", st.Sid, res, versions, want)
			}
		}
	}
}
