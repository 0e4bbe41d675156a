// Package doctor checks that the buckets s3sftpd writes to are set up the way
// PHI storage needs: public access blocked, encrypted by default, versioned,
// logged, TLS-only, cleaned of abandoned multipart uploads, no public ACL
// grants, and (for the audit copy) Object Lock; that the account's own
// S3 Block Public Access is on; and, when uploads are scanned, that clamd
// answers with a fresh signature database (clamd.go).
//
// Each control is a pure decision over what the S3 API answered (output and
// error), so it is tested from recorded responses. An answer that proves
// nothing — a store that does not implement the call (501), access denied, a
// network error — is UNKNOWN, never PASS. The package only reads bucket and
// account configuration (and asks clamd its version); it never reads or
// writes objects.
package doctor

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/store"
)

// Status is the outcome of one control.
type Status string

// Statuses. Only FAIL makes doctor exit 1 (and serve refuse to start with
// require_compliant). WARN is for report-only controls (MFA delete).
const (
	Pass    Status = "PASS"
	Fail    Status = "FAIL"
	Unknown Status = "UNKNOWN"
	Warn    Status = "WARN"
)

// Result is one row of the report.
type Result struct {
	Bucket  string // "" for checks of the config itself
	Control string
	Status  Status
	Why     string
	Fix     string // empty on PASS
}

// Target is one bucket to check and what it is used for.
type Target struct {
	Bucket string
	// Audit marks the bucket that holds the S3 copy of the audit trail: it
	// must also have Object Lock.
	Audit bool
	// Homes are the user prefixes in this bucket, the homes' and the
	// folders'; a lifecycle rule must cover them.
	Homes []string
	// Retentions are the folders in this bucket with a retention.
	Retentions []Retention
}

// Options says what the gateway is configured to expect.
type Options struct {
	// KMS: the config writes with sse = "aws:kms", so default encryption
	// must be KMS too.
	KMS bool
	// Timeout bounds the checks of one bucket; 0 means 20s.
	Timeout time.Duration
}

// API is the subset of the S3 client the checks call: bucket configuration
// reads only. The gateway's store hands out its client narrowed to it.
type API = store.BucketConfig

// Check runs every control on every target, in order. It never fails as a
// whole: what cannot be read is reported as UNKNOWN.
func Check(ctx context.Context, api API, targets []Target, opts Options) []Result {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	var out []Result
	for _, t := range targets {
		out = append(out, checkBucket(ctx, api, t, opts, timeout)...)
	}
	return out
}

func checkBucket(ctx context.Context, api API, t Target, opts Options, timeout time.Duration) []Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b := &t.Bucket
	var rs []Result
	add := func(r Result) {
		r.Bucket = t.Bucket
		r.Fix = strings.ReplaceAll(r.Fix, "--bucket B ", "--bucket "+t.Bucket+" ")
		rs = append(rs, r)
	}

	add(publicAccessBlock(api.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})))
	add(encryption(opts.KMS)(api.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b})))
	ver, verErr := api.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	add(versioning(ver, verErr))
	add(mfaDelete(ver, verErr))
	add(logging(api.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: b})))
	add(tlsPolicy(t.Bucket)(api.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})))
	lc, lcErr := api.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})
	add(lifecycle(t.Homes)(lc, lcErr))
	for _, r := range retention(t.Retentions, versionedOf(ver, verErr))(lc, lcErr) {
		add(r)
	}
	add(acl(api.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b})))
	if t.Audit {
		add(objectLock(api.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: b})))
	}
	return rs
}

// Failed reports whether any result is FAIL.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Embedded is the report for the embedded store: it answers bucket
// configuration reads with empty successes, so nothing can be learnt from
// it and every control is UNKNOWN.
func Embedded(targets []Target) []Result {
	var out []Result
	for _, t := range targets {
		out = append(out, Result{Bucket: t.Bucket, Control: "all", Status: Unknown,
			Why: "the embedded store has no bucket configuration", Fix: "use a real S3 bucket for real data"})
	}
	return out
}
