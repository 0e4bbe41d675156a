package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// runToolCode runs an s3sftpd subcommand with s3srv's credentials and returns
// its output and exit code.
func runToolCode(t *testing.T, s3srv *s3test.Server, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3srv.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// writeTestConfig writes the harness config for s3srv plus extra [s3] lines.
func writeTestConfig(t *testing.T, s3srv *s3test.Server, s3Lines string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "s3sftpd.toml")
	text := configText(dir, s3srv, gatewayOpts{checksums: "compat", drain: "5s", s3: s3Lines,
		users: []testUser{{name: "acme", home: "partners/acme/", keys: []string{pubKey(t, "ed25519")}}}})
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// statusOf finds a control's status in the doctor's table.
func statusOf(t *testing.T, table, control string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\S+\s+` + regexp.QuoteMeta(control) + `\s+(\S+)`).FindStringSubmatch(table)
	if m == nil {
		t.Fatalf("no %s row in:\n%s", control, table)
	}
	return m[1]
}

// TestE2E_DoctorOnVersitygw runs the doctor against a real store that does
// not implement most bucket configuration reads: those must come out
// UNKNOWN, never PASS; what it does answer is judged.
func TestE2E_DoctorOnVersitygw(t *testing.T) {
	s3srv := s3test.Start(t)
	path := writeTestConfig(t, s3srv, "")

	out, errOut, code := runToolCode(t, s3srv, "doctor", "-config", path)
	if code != 1 {
		t.Fatalf("doctor exit %d; want 1 (no TLS policy, no versioning)\n%s%s", code, out, errOut)
	}
	for control, want := range map[string]string{
		"endpoint-tls":             "PASS", // loopback
		"public-access-block":      "UNKNOWN",
		"default-encryption":       "UNKNOWN",
		"access-logging":           "UNKNOWN",
		"abort-incomplete-uploads": "UNKNOWN",
		"versioning":               "FAIL", // answered: never enabled
		"tls-only-policy":          "FAIL", // answered: NoSuchBucketPolicy
		"no-public-acl":            "PASS", // answered: owner only
		// S3 Control exists only on AWS: nothing is asked of versitygw.
		"account-public-access-block": "UNKNOWN",
	} {
		if got := statusOf(t, out, control); got != want {
			t.Errorf("%s = %s; want %s\n%s", control, got, want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^-\s+account-public-access-block\s+UNKNOWN\s+http://127\.0\.0\.1:\d+ is not AWS`).MatchString(out) {
		t.Errorf("account row does not say the store is not AWS:\n%s", out)
	}
	if strings.Count(out, "501 NotImplemented") < 4 {
		t.Errorf("UNKNOWN rows do not say the store does not implement the check:\n%s", out)
	}

	// A TLS-only policy set on the real store turns that row into PASS.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",` +
		`"Resource":["arn:aws:s3:::` + s3srv.Bucket + `","arn:aws:s3:::` + s3srv.Bucket + `/*"],` +
		`"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	if _, err := s3srv.Client(t).PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{
		Bucket: aws.String(s3srv.Bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("put bucket policy: %v", err)
	}
	out, _, _ = runToolCode(t, s3srv, "doctor", "-config", path)
	if got := statusOf(t, out, "tls-only-policy"); got != "PASS" {
		t.Errorf("tls-only-policy after PutBucketPolicy = %s; want PASS\n%s", got, out)
	}
}

// TestE2E_ServeRequireCompliant: serve logs the checks; with
// require_compliant a FAIL stops it before it listens.
func TestE2E_ServeRequireCompliant(t *testing.T) {
	s3srv := s3test.Start(t)

	g := startGateway(t, s3srv, gatewayOpts{})
	waitFor(t, 5*time.Second, "compliance logged", func() bool {
		return strings.Contains(g.logs.String(), `"msg":"compliance check"`) &&
			strings.Contains(g.logs.String(), `"control":"versioning","status":"FAIL"`)
	})

	path := writeTestConfig(t, s3srv, "require_compliant = true\n")
	_, errOut, code := runToolCode(t, s3srv, "serve", "-config", path)
	if code != 1 || !strings.Contains(errOut, "s3.require_compliant") || strings.Contains(errOut, `"msg":"listening"`) {
		t.Errorf("serve with require_compliant on a failing bucket: exit %d; want 1 before listening\n%s", code, errOut)
	}
}
