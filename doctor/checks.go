package doctor

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Control names, as printed.
const (
	CtlEndpointTLS       = "endpoint-tls"
	CtlPublicAccessBlock = "public-access-block"
	CtlEncryption        = "default-encryption"
	CtlVersioning        = "versioning"
	CtlMFADelete         = "mfa-delete"
	CtlLogging           = "access-logging"
	CtlTLSPolicy         = "tls-only-policy"
	CtlLifecycle         = "abort-incomplete-uploads"
	CtlACL               = "no-public-acl"
	CtlObjectLock        = "object-lock"
)

// unread turns an error that proves nothing into UNKNOWN. notConfigured is
// the error code with which S3 says the configuration does not exist; the
// caller turns that into its verdict, so unread returns ok=false and
// missing=true for it.
func unread(ctl string, err error, notConfigured ...string) (r Result, missing bool) {
	var ae smithy.APIError
	if errors.As(err, &ae) && slices.Contains(notConfigured, ae.ErrorCode()) {
		return Result{}, true
	}
	why := "could not read: " + describe(err)
	fix := "grant the gateway's identity read access to the bucket configuration (s3:GetBucket*), or check it by hand"
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 501 {
		why = "the store does not implement this check (501 NotImplemented)"
		fix = "verify this control on the store by other means"
	}
	return Result{Control: ctl, Status: Unknown, Why: why, Fix: fix}, false
}

// describe names an error by its S3 code and HTTP status, never by the
// full SDK text (which can be long and name request ids).
func describe(err error) string {
	var ae smithy.APIError
	var re *smithyhttp.ResponseError
	switch {
	case errors.As(err, &ae) && errors.As(err, &re):
		return fmt.Sprintf("%s (HTTP %d)", ae.ErrorCode(), re.HTTPStatusCode())
	case errors.As(err, &ae):
		return ae.ErrorCode()
	}
	return err.Error()
}

// Endpoint checks the transport to the store: https, unless the store is
// on loopback or embedded (the bytes never leave the host).
func Endpoint(endpoint string) Result {
	r := Result{Control: CtlEndpointTLS, Status: Pass}
	switch {
	case endpoint == "" || endpoint == "embedded":
		r.Why = "AWS endpoint (https) or the embedded store"
		return r
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return Result{Control: CtlEndpointTLS, Status: Fail, Why: "endpoint is not a URL", Fix: "set s3.endpoint to an https URL"}
	}
	if u.Scheme == "https" {
		r.Why = "https"
		return r
	}
	if IsLoopback(u.Hostname()) {
		r.Why = "plain http, but on loopback"
		return r
	}
	return Result{Control: CtlEndpointTLS, Status: Fail, Why: "plain http to " + u.Host + ": PHI would cross the network unencrypted",
		Fix: "use an https endpoint"}
}

// IsLoopback reports whether host names this machine only.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func publicAccessBlock(out *s3.GetPublicAccessBlockOutput, err error) Result {
	const ctl, fix = CtlPublicAccessBlock, "aws s3api put-public-access-block --bucket B --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
	if err != nil {
		r, missing := unread(ctl, err, "NoSuchPublicAccessBlockConfiguration")
		if !missing {
			return r
		}
		return Result{Control: ctl, Status: Fail, Why: "no public access block on the bucket", Fix: fix}
	}
	c := out.PublicAccessBlockConfiguration
	if c == nil {
		return Result{Control: ctl, Status: Unknown, Why: "empty answer", Fix: "check by hand"}
	}
	if off := flagsOff(c.BlockPublicAcls, c.IgnorePublicAcls, c.BlockPublicPolicy, c.RestrictPublicBuckets); len(off) > 0 {
		return Result{Control: ctl, Status: Fail, Why: "off: " + strings.Join(off, ", "), Fix: fix}
	}
	return Result{Control: ctl, Status: Pass, Why: "all four flags on"}
}

// flagsOff names the public access block flags that are not on, for the
// bucket's block and the account's alike (same four flags, two SDK types).
func flagsOff(blockACLs, ignoreACLs, blockPolicy, restrictBuckets *bool) []string {
	var off []string
	for _, f := range []struct {
		name string
		v    *bool
	}{{"BlockPublicAcls", blockACLs}, {"IgnorePublicAcls", ignoreACLs},
		{"BlockPublicPolicy", blockPolicy}, {"RestrictPublicBuckets", restrictBuckets}} {
		if !aws.ToBool(f.v) {
			off = append(off, f.name)
		}
	}
	return off
}

// encryption checks default encryption; with kms the default must be KMS
// too, so objects written by other tools get the same protection.
func encryption(kms bool) func(*s3.GetBucketEncryptionOutput, error) Result {
	return func(out *s3.GetBucketEncryptionOutput, err error) Result {
		const ctl = CtlEncryption
		fix := "aws s3api put-bucket-encryption --bucket B --server-side-encryption-configuration '{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"AES256\"}}]}'"
		if kms {
			fix = "aws s3api put-bucket-encryption --bucket B --server-side-encryption-configuration '{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\",\"KMSMasterKeyID\":\"KEY\"},\"BucketKeyEnabled\":true}]}'"
		}
		if err != nil {
			r, missing := unread(ctl, err, "ServerSideEncryptionConfigurationNotFoundError")
			if !missing {
				return r
			}
			return Result{Control: ctl, Status: Fail, Why: "no default encryption", Fix: fix}
		}
		if out.ServerSideEncryptionConfiguration == nil {
			return Result{Control: ctl, Status: Unknown, Why: "empty answer", Fix: "check by hand"}
		}
		var algs []string
		for _, rule := range out.ServerSideEncryptionConfiguration.Rules {
			if d := rule.ApplyServerSideEncryptionByDefault; d != nil && d.SSEAlgorithm != "" {
				algs = append(algs, string(d.SSEAlgorithm))
			}
		}
		switch {
		case len(algs) == 0:
			return Result{Control: ctl, Status: Fail, Why: "no default encryption rule", Fix: fix}
		case kms && !strings.HasPrefix(algs[0], "aws:kms"):
			return Result{Control: ctl, Status: Fail, Why: "default is " + algs[0] + " but sse = \"aws:kms\"", Fix: fix}
		}
		return Result{Control: ctl, Status: Pass, Why: "default " + algs[0]}
	}
}

func versioning(out *s3.GetBucketVersioningOutput, err error) Result {
	const ctl, fix = CtlVersioning, "aws s3api put-bucket-versioning --bucket B --versioning-configuration Status=Enabled"
	if err != nil {
		r, _ := unread(ctl, err)
		return r
	}
	if out.Status == types.BucketVersioningStatusEnabled {
		return Result{Control: ctl, Status: Pass, Why: "enabled"}
	}
	why := "never enabled: an overwrite or delete loses the old data"
	if out.Status != "" {
		why = strings.ToLower(string(out.Status)) + ": an overwrite or delete loses the old data"
	}
	return Result{Control: ctl, Status: Fail, Why: why, Fix: fix}
}

// mfaDelete is report only: enabling it needs the root account's MFA
// device, which many organisations rightly keep out of daily use.
func mfaDelete(out *s3.GetBucketVersioningOutput, err error) Result {
	const ctl = CtlMFADelete
	if err != nil {
		r, _ := unread(ctl, err)
		return r
	}
	if out.MFADelete == types.MFADeleteStatusEnabled {
		return Result{Control: ctl, Status: Pass, Why: "enabled"}
	}
	return Result{Control: ctl, Status: Warn, Why: "not enabled (report only)",
		Fix: "optional: with the root account's MFA, aws s3api put-bucket-versioning --bucket B --versioning-configuration Status=Enabled,MFADelete=Enabled --mfa 'SERIAL CODE'"}
}

func logging(out *s3.GetBucketLoggingOutput, err error) Result {
	const ctl, fix = CtlLogging, "aws s3api put-bucket-logging --bucket B --bucket-logging-status '{\"LoggingEnabled\":{\"TargetBucket\":\"LOGS\",\"TargetPrefix\":\"B/\"}}'"
	if err != nil {
		r, _ := unread(ctl, err)
		return r
	}
	if l := out.LoggingEnabled; l != nil && aws.ToString(l.TargetBucket) != "" {
		return Result{Control: ctl, Status: Pass, Why: "logs to " + aws.ToString(l.TargetBucket)}
	}
	return Result{Control: ctl, Status: Fail, Why: "server access logging is off", Fix: fix}
}

// lifecycle needs an enabled rule aborting incomplete multipart uploads that
// covers every home in the bucket: a crashed gateway's parts are PHI at rest
// that no listing shows.
func lifecycle(homes []string) func(*s3.GetBucketLifecycleConfigurationOutput, error) Result {
	return func(out *s3.GetBucketLifecycleConfigurationOutput, err error) Result {
		const ctl = CtlLifecycle
		const fix = "add a lifecycle rule with AbortIncompleteMultipartUpload DaysAfterInitiation=1..7 and an empty filter (or a prefix covering the homes)"
		if err != nil {
			r, missing := unread(ctl, err, "NoSuchLifecycleConfiguration")
			if !missing {
				return r
			}
			return Result{Control: ctl, Status: Fail, Why: "no lifecycle configuration", Fix: fix}
		}
		var prefixes []string
		for _, rule := range out.Rules {
			if rule.Status != types.ExpirationStatusEnabled || rule.AbortIncompleteMultipartUpload == nil ||
				aws.ToInt32(rule.AbortIncompleteMultipartUpload.DaysAfterInitiation) <= 0 {
				continue
			}
			if p, ok := rulePrefix(rule); ok {
				prefixes = append(prefixes, p)
			}
		}
		if len(prefixes) == 0 {
			return Result{Control: ctl, Status: Fail, Why: "no enabled rule aborts incomplete multipart uploads", Fix: fix}
		}
		for _, h := range homes {
			if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(h, p) }) {
				return Result{Control: ctl, Status: Fail, Why: "no abort rule covers home " + h, Fix: fix}
			}
		}
		return Result{Control: ctl, Status: Pass, Why: "an enabled rule aborts incomplete uploads under every home"}
	}
}

// rulePrefix is the key prefix a rule applies to; ok is false for rules
// narrowed by tags or sizes, which multipart uploads do not match.
func rulePrefix(r types.LifecycleRule) (string, bool) {
	f := r.Filter
	switch {
	case f == nil:
		return aws.ToString(r.Prefix), true //nolint:staticcheck // the deprecated Prefix is still answered by older buckets
	case f.Tag != nil || f.ObjectSizeGreaterThan != nil || f.ObjectSizeLessThan != nil:
		return "", false
	case f.And != nil:
		if len(f.And.Tags) > 0 || f.And.ObjectSizeGreaterThan != nil || f.And.ObjectSizeLessThan != nil {
			return "", false
		}
		return aws.ToString(f.And.Prefix), true
	}
	return aws.ToString(f.Prefix), true
}

// Group grantees that make a bucket public.
const (
	allUsers           = "http://acs.amazonaws.com/groups/global/AllUsers"
	authenticatedUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

func acl(out *s3.GetBucketAclOutput, err error) Result {
	const ctl, fix = CtlACL, "aws s3api put-bucket-ownership-controls --bucket B --ownership-controls 'Rules=[{ObjectOwnership=BucketOwnerEnforced}]' (disables ACLs)"
	if err != nil {
		r, _ := unread(ctl, err)
		return r
	}
	var bad []string
	for _, g := range out.Grants {
		if g.Grantee == nil {
			continue
		}
		switch aws.ToString(g.Grantee.URI) {
		case allUsers:
			bad = append(bad, "AllUsers:"+string(g.Permission))
		case authenticatedUsers:
			bad = append(bad, "AuthenticatedUsers:"+string(g.Permission))
		}
	}
	if len(bad) > 0 {
		return Result{Control: ctl, Status: Fail, Why: "public grants: " + strings.Join(bad, ", "), Fix: fix}
	}
	return Result{Control: ctl, Status: Pass, Why: fmt.Sprintf("%d grants, none public", len(out.Grants))}
}

func objectLock(out *s3.GetObjectLockConfigurationOutput, err error) Result {
	const ctl, fix = CtlObjectLock, "create the audit bucket with --object-lock-enabled-for-bucket and a default retention (COMPLIANCE mode, e.g. 6 years)"
	if err != nil {
		r, missing := unread(ctl, err, "ObjectLockConfigurationNotFoundError")
		if !missing {
			return r
		}
		return Result{Control: ctl, Status: Fail, Why: "Object Lock is not enabled on the audit bucket", Fix: fix}
	}
	c := out.ObjectLockConfiguration
	if c == nil || c.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return Result{Control: ctl, Status: Fail, Why: "Object Lock is not enabled on the audit bucket", Fix: fix}
	}
	if c.Rule == nil || c.Rule.DefaultRetention == nil {
		return Result{Control: ctl, Status: Fail, Why: "Object Lock is on but has no default retention: segments can still be deleted", Fix: fix}
	}
	d := c.Rule.DefaultRetention
	n, unit := aws.ToInt32(d.Days), "days"
	if d.Years != nil {
		n, unit = aws.ToInt32(d.Years), "years"
	}
	return Result{Control: ctl, Status: Pass, Why: fmt.Sprintf("enabled, default %s retention %d %s", d.Mode, n, unit)}
}
