package doctor

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const bucket = "amzn-s3-demo-bucket"

// reply is one recorded S3 answer: a status and a file under testdata.
type reply struct {
	status int
	file   string
}

// subresources maps the query parameter of each bucket configuration read
// to the key that names it in a case.
var subresources = []string{"publicAccessBlock", "encryption", "versioning", "logging", "policy", "lifecycle", "acl", "object-lock"}

// recorded serves the recorded answers to the real SDK client: the
// decision functions see exactly what the SDK's deserializers make of
// AWS's documented responses. A read without a recording answers 501, as
// versitygw does.
func recorded(t *testing.T, replies map[string]reply) *s3.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/"+bucket {
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
		}
		rep := reply{http.StatusNotImplemented, "err-not-implemented.xml"}
		for _, sub := range subresources {
			if r.URL.Query().Has(sub) {
				if got, ok := replies[sub]; ok {
					rep = got
				}
			}
		}
		body, err := os.ReadFile(filepath.Join("testdata", rep.file))
		if err != nil {
			t.Error(err)
		}
		if strings.HasSuffix(rep.file, ".json") {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "application/xml")
		}
		w.WriteHeader(rep.status)
		w.Write(body)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func TestCheck_RecordedResponses(t *testing.T) {
	ok := func(f string) reply { return reply{200, f} }
	notFound := func(f string) reply { return reply{404, f} }
	compliant := map[string]reply{
		"publicAccessBlock": ok("pab-all-on.xml"),
		"encryption":        ok("sse-kms.xml"),
		"versioning":        ok("versioning-enabled-mfa.xml"),
		"logging":           ok("logging-on.xml"),
		"policy":            ok("policy-tls-only.json"),
		"lifecycle":         ok("lifecycle-abort.xml"),
		"acl":               ok("acl-owner-only.xml"),
		"object-lock":       ok("objectlock-compliance.xml"),
	}
	with := func(changes map[string]reply) map[string]reply {
		m := map[string]reply{}
		for k, v := range compliant {
			m[k] = v
		}
		for k, v := range changes {
			m[k] = v
		}
		return m
	}
	allPass := map[string]Status{
		CtlPublicAccessBlock: Pass, CtlEncryption: Pass, CtlVersioning: Pass, CtlMFADelete: Pass, CtlLogging: Pass,
		CtlTLSPolicy: Pass, CtlLifecycle: Pass, CtlACL: Pass, CtlObjectLock: Pass,
	}
	tests := []struct {
		name    string
		replies map[string]reply
		kms     bool
		homes   []string
		want    map[string]Status
	}{
		{"compliant", compliant, true, []string{"partners/acme/"}, allPass},
		{"nothing-configured", map[string]reply{
			"publicAccessBlock": notFound("err-no-pab.xml"),
			"encryption":        notFound("err-no-sse.xml"),
			"versioning":        ok("versioning-never.xml"),
			"logging":           ok("logging-off.xml"),
			"policy":            notFound("err-no-policy.xml"),
			"lifecycle":         notFound("err-no-lifecycle.xml"),
			"acl":               ok("acl-public-read.xml"),
			"object-lock":       notFound("err-no-objectlock.xml"),
		}, false, nil, map[string]Status{
			CtlPublicAccessBlock: Fail, CtlEncryption: Fail, CtlVersioning: Fail, CtlMFADelete: Warn, CtlLogging: Fail,
			CtlTLSPolicy: Fail, CtlLifecycle: Fail, CtlACL: Fail, CtlObjectLock: Fail,
		}},
		{"not-implemented-is-unknown", map[string]reply{}, false, nil, map[string]Status{
			CtlPublicAccessBlock: Unknown, CtlEncryption: Unknown, CtlVersioning: Unknown, CtlMFADelete: Unknown, CtlLogging: Unknown,
			CtlTLSPolicy: Unknown, CtlLifecycle: Unknown, CtlACL: Unknown, CtlObjectLock: Unknown,
		}},
		{"access-denied-is-unknown", with(map[string]reply{
			"publicAccessBlock": {403, "err-access-denied.xml"}, "policy": {403, "err-access-denied.xml"},
		}), true, nil, map[string]Status{CtlPublicAccessBlock: Unknown, CtlTLSPolicy: Unknown, CtlEncryption: Pass}},
		{"two-pab-flags-off", with(map[string]reply{"publicAccessBlock": ok("pab-policy-off.xml")}), true, nil,
			map[string]Status{CtlPublicAccessBlock: Fail}},
		{"sse-s3-when-kms-configured", with(map[string]reply{"encryption": ok("sse-s3.xml")}), true, nil,
			map[string]Status{CtlEncryption: Fail}},
		{"sse-s3-when-aes256-configured", with(map[string]reply{"encryption": ok("sse-s3.xml")}), false, nil,
			map[string]Status{CtlEncryption: Pass}},
		{"versioning-suspended", with(map[string]reply{"versioning": ok("versioning-suspended.xml")}), true, nil,
			map[string]Status{CtlVersioning: Fail, CtlMFADelete: Warn}},
		{"public-read-policy", with(map[string]reply{"policy": ok("policy-public-read.json")}), true, nil,
			map[string]Status{CtlTLSPolicy: Fail}},
		{"tls-policy-of-another-bucket", with(map[string]reply{"policy": ok("policy-tls-other-bucket.json")}), true, nil,
			map[string]Status{CtlTLSPolicy: Fail}},
		{"lifecycle-without-abort", with(map[string]reply{"lifecycle": ok("lifecycle-archive.xml")}), true, nil,
			map[string]Status{CtlLifecycle: Fail}},
		{"abort-rule-covers-the-home", with(map[string]reply{"lifecycle": ok("lifecycle-abort-other-prefix.xml")}), true,
			[]string{"partners/acme/inbox/"}, map[string]Status{CtlLifecycle: Pass}},
		{"abort-rule-misses-a-home", with(map[string]reply{"lifecycle": ok("lifecycle-abort-other-prefix.xml")}), true,
			[]string{"partners/acme/", "partners/beta/"}, map[string]Status{CtlLifecycle: Fail}},
		{"object-lock-without-retention", with(map[string]reply{"object-lock": ok("objectlock-no-retention.xml")}), true, nil,
			map[string]Status{CtlObjectLock: Fail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := recorded(t, tt.replies)
			rs := Check(context.Background(), client, []Target{{Bucket: bucket, Audit: true, Homes: tt.homes}}, Options{KMS: tt.kms})
			got := map[string]Result{}
			for _, r := range rs {
				got[r.Control] = r
			}
			for ctl, want := range tt.want {
				r, ok := got[ctl]
				if !ok {
					t.Errorf("%s: no result", ctl)
					continue
				}
				if r.Status != want {
					t.Errorf("%s = %s (%s); want %s", ctl, r.Status, r.Why, want)
				}
				if r.Status != Pass && r.Fix == "" {
					t.Errorf("%s: %s without a fix", ctl, r.Status)
				}
			}
			if wantFailed := containsStatus(tt.want, Fail); Failed(rs) != wantFailed {
				t.Errorf("Failed = %v; want %v", Failed(rs), wantFailed)
			}
		})
	}
}

func containsStatus(m map[string]Status, s Status) bool {
	for _, v := range m {
		if v == s {
			return true
		}
	}
	return false
}

func TestCheck_AuditBucketOnlyChecksObjectLock(t *testing.T) {
	client := recorded(t, map[string]reply{})
	for _, audit := range []bool{false, true} {
		rs := Check(context.Background(), client, []Target{{Bucket: bucket, Audit: audit}}, Options{})
		has := false
		for _, r := range rs {
			has = has || r.Control == CtlObjectLock
		}
		if has != audit {
			t.Errorf("audit=%v: object-lock checked = %v", audit, has)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		want     Status
	}{
		{"", Pass},
		{"embedded", Pass},
		{"https://s3.example.com", Pass},
		{"http://127.0.0.1:9000", Pass},
		{"http://localhost:9000", Pass},
		{"http://[::1]:9000", Pass},
		{"http://10.0.0.5:9000", Fail},
		{"http://s3.example.com", Fail},
	} {
		if got := Endpoint(tt.endpoint); got.Status != tt.want {
			t.Errorf("Endpoint(%q) = %s (%s); want %s", tt.endpoint, got.Status, got.Why, tt.want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		pat, s string
		want   bool
	}{
		{"s3:*", "s3:getobject", true},
		{"*", "anything", true},
		{"s3:get*", "s3:putobject", false},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/any-key", true},
		{"arn:aws:s3:::b", "arn:aws:s3:::b/any-key", false},
		{"arn:aws:s3:::b?/*", "arn:aws:s3:::bc/k", true},
		{"arn:aws:s3:::other/*", "arn:aws:s3:::b/k", false},
	} {
		if got := glob(tt.pat, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v; want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}
