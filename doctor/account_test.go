package doctor

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const account = "111122223333" // the account of sts-caller-identity.xml

// recordedAccount serves recorded STS and S3 Control answers to the real
// SDK clients on 127.0.0.1. It counts the S3 Control requests so a test
// can show none was sent.
func recordedAccount(t *testing.T, identity, controlReply reply) (*sts.Client, *s3control.Client, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var controlCalls atomic.Int32
	serve := func(w http.ResponseWriter, rep reply) {
		body, err := os.ReadFile(filepath.Join("testdata", rep.file))
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(rep.status)
		w.Write(body)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/":
			if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "GetCallerIdentity" {
				t.Errorf("unexpected STS request %v (%v)", r.PostForm, err)
			}
			serve(w, identity)
		case r.Method == http.MethodGet && r.URL.Path == "/v20180820/configuration/publicAccessBlock":
			controlCalls.Add(1)
			// The SDK puts the account in the header and in front of the
			// host, as for s3-control.amazonaws.com.
			if got := r.Header.Get("x-amz-account-id"); got != account {
				t.Errorf("x-amz-account-id = %q; want %q", got, account)
			}
			if !strings.HasPrefix(r.Host, account+".") {
				t.Errorf("host = %q; want the account as prefix", r.Host)
			}
			serve(w, controlReply)
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusBadRequest)
		}
	})}}
	srv.Start()
	t.Cleanup(srv.Close)

	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	ids := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1})
	// S3 Control names the host {account}.endpoint, which no resolver
	// knows for 127.0.0.1: every connection goes to the test server.
	addr := ln.Addr().String()
	toServer := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	control := s3control.New(s3control.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds,
		RetryMaxAttempts: 1, HTTPClient: toServer})
	return ids, control, &controlCalls
}

func TestCheckAccount_RecordedResponses(t *testing.T) {
	identity := reply{200, "sts-caller-identity.xml"}
	fix := "aws s3control put-public-access-block --account-id " + account + " "
	tests := []struct {
		name          string
		identity      reply
		control       reply
		want          Status
		why, fix      string
		controlCalled bool
	}{
		{"all-four-on", identity, reply{200, "account-pab-all-on.xml"}, Pass, "account " + account + ": all four flags on", "", true},
		{"acls-off", identity, reply{200, "account-pab-acls-off.xml"}, Fail, "off: BlockPublicAcls, IgnorePublicAcls", fix, true},
		{"not-configured", identity, reply{404, "err-no-account-pab.xml"}, Fail, "no account-level public access block", fix, true},
		{"access-denied", identity, reply{403, "err-account-access-denied.xml"}, Unknown, "AccessDenied (HTTP 403)", "s3:GetAccountPublicAccessBlock", true},
		{"no-identity", reply{403, "err-sts-invalid-token.xml"}, reply{200, "account-pab-all-on.xml"}, Unknown, "InvalidClientTokenId", "credentials", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, control, calls := recordedAccount(t, tt.identity, tt.control)
			r := CheckAccount(context.Background(), ids, control, Options{})
			if r.Control != CtlAccountPublicAccessBlock || r.Bucket != "" {
				t.Errorf("row = %q/%q; want %q for no bucket", r.Bucket, r.Control, CtlAccountPublicAccessBlock)
			}
			if r.Status != tt.want || !strings.Contains(r.Why, tt.why) || !strings.Contains(r.Fix, tt.fix) {
				t.Errorf("got %s (%s; fix %q); want %s (%s; fix with %q)", r.Status, r.Why, r.Fix, tt.want, tt.why, tt.fix)
			}
			if r.Status != Pass && r.Fix == "" {
				t.Errorf("%s without a fix", r.Status)
			}
			if called := calls.Load() > 0; called != tt.controlCalled {
				t.Errorf("S3 Control called = %v; want %v", called, tt.controlCalled)
			}
		})
	}
}

// TestCheckAccount_NetworkError: an S3 Control endpoint that refuses the
// connection proves nothing about the account.
func TestCheckAccount_NetworkError(t *testing.T) {
	ids, _, _ := recordedAccount(t, reply{200, "sts-caller-identity.xml"}, reply{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	refused := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	control := s3control.New(s3control.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), RetryMaxAttempts: 1, HTTPClient: refused})
	r := CheckAccount(context.Background(), ids, control, Options{})
	if r.Status != Unknown || !strings.Contains(r.Why, "could not read") || !strings.Contains(r.Fix, "route to S3 Control") {
		t.Errorf("got %s (%s; fix %q); want UNKNOWN, could not read, check the route", r.Status, r.Why, r.Fix)
	}
}

func TestIsAWS(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		want     bool
	}{
		{"", true},
		{"https://s3.eu-west-1.amazonaws.com", true},
		{"https://bucket.vpce-0a1b2c3d-e4f5g6h7.s3.us-east-1.vpce.amazonaws.com", true},
		{"https://s3.cn-north-1.amazonaws.com.cn", true},
		{"http://s3.eu-west-1.amazonaws.com", false},
		{"https://amazonaws.com.evil.example", false},
		{"https://s3.example.com", false},
		{"http://127.0.0.1:7070", false},
		{"embedded", false},
	} {
		if got := IsAWS(tt.endpoint); got != tt.want {
			t.Errorf("IsAWS(%q) = %v; want %v", tt.endpoint, got, tt.want)
		}
	}
}

// TestWithAccount: a bucket's own block stays FAIL when the account's is
// all on, but says it is covered today; nothing changes otherwise.
func TestWithAccount(t *testing.T) {
	rows := func() []Result {
		return []Result{
			{Bucket: "a", Control: CtlPublicAccessBlock, Status: Fail, Why: "off: BlockPublicPolicy"},
			{Bucket: "b", Control: CtlPublicAccessBlock, Status: Pass, Why: "all four flags on"},
			{Bucket: "a", Control: CtlVersioning, Status: Fail, Why: "never enabled"},
		}
	}
	covered := WithAccount(rows(), Result{Control: CtlAccountPublicAccessBlock, Status: Pass})
	if covered[0].Status != Fail || !strings.Contains(covered[0].Why, "covered today by the account-level block") {
		t.Errorf("bucket a with the account's block on: %s (%s); want FAIL, covered today", covered[0].Status, covered[0].Why)
	}
	for i, want := range rows()[1:] {
		if got := covered[i+1]; got != want {
			t.Errorf("row %d = %+v; want unchanged %+v", i+1, got, want)
		}
	}
	for _, s := range []Status{Fail, Unknown} {
		if got := WithAccount(rows(), Result{Control: CtlAccountPublicAccessBlock, Status: s}); got[0] != rows()[0] {
			t.Errorf("account %s: bucket row = %+v; want unchanged", s, got[0])
		}
	}
}
