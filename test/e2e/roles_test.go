package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_RoleARN: the gateway's own credentials are wrong, so an OpenSSH
// upload by a user with role_arn succeeds only if its S3 calls are signed
// with the credentials of the assumed role. STS is a replay of AWS's
// documented AssumeRole answer (no STS-compatible server runs here) that
// hands out the store's keys; the requests it gets are checked.
func TestE2E_RoleARN(t *testing.T) {
	s3srv := s3test.Start(t)
	sts := s3test.StartSTS(t, s3srv, time.Hour)

	users := []testUser{
		{name: "acme", home: "partners/acme/", keys: []string{pubKey(t, "ed25519")},
			extra: "role_arn = \"arn:aws:iam::123456789012:role/sftp-acme\"\nexternal_id = \"acme-4711\"\n"},
		{name: "beta", home: "partners/beta/", keys: []string{pubKey(t, "ecdsa")}},
	}
	g := startGateway(t, s3srv, gatewayOpts{users: users, s3: "sts_endpoint = \"" + sts.URL + "\"\n",
		env: []string{"AWS_ACCESS_KEY_ID=AKIDNOTTHEGATEWAYS", "AWS_SECRET_ACCESS_KEY=wrong"}})

	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "claims.csv"), 6<<20+3)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put claims.csv\nget claims.csv back.csv\n")
	sameFile(t, filepath.Join(dir, "back.csv"), data)
	if got, _ := s3srv.Get(t, "partners/acme/claims.csv"); len(got) != len(data) {
		t.Errorf("stored %d bytes; want %d", len(got), len(data))
	}
	// beta has no role: it runs on the gateway's own (wrong) credentials.
	if out, err := g.sftp(t, dir, "beta", clientKeys["ecdsa"], "put claims.csv\n"); err == nil {
		t.Errorf("upload by a user without role_arn succeeded on the gateway's wrong credentials:\n%s", out)
	}

	if calls := sts.Calls(); len(calls) != 1 {
		t.Errorf("AssumeRole called %d times by the gateway; want 1", len(calls))
	}

	// presign signs with the role too: with the gateway's keys wrong, the
	// URL works only if it does.
	cmd := exec.Command(binary, "presign", "-config", g.config, "-user", "acme", "/claims.csv")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDNOTTHEGATEWAYS", "AWS_SECRET_ACCESS_KEY=wrong",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("presign for a role user: %v", err)
	}
	if got, status := httpGet(t, strings.TrimSpace(string(out))); status != 200 || !bytes.Equal(got, data) {
		t.Errorf("GET the role-signed URL: status %d, %d bytes; want 200 and the file", status, len(got))
	}

	calls := sts.Calls()
	if len(calls) != 2 {
		t.Fatalf("AssumeRole called %d times; want 2 (the gateway, then presign)", len(calls))
	}
	for k, want := range map[string]string{"RoleArn": "arn:aws:iam::123456789012:role/sftp-acme", "ExternalId": "acme-4711",
		"SourceIdentity": "acme", "RoleSessionName": "s3sftpd-acme"} {
		if got := calls[0].Get(k); got != want {
			t.Errorf("AssumeRole %s = %q; want %q", k, got, want)
		}
	}
	if p := calls[0].Get("Policy"); !strings.Contains(p, `arn:aws:s3:::`+s3srv.Bucket+`/partners/acme/*`) {
		t.Errorf("session policy does not scope to the home: %s", p)
	}
}
