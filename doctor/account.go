package doctor

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// CtlAccountPublicAccessBlock is the account-level control's name.
const CtlAccountPublicAccessBlock = "account-public-access-block"

// IdentityAPI names the account of the gateway's credentials.
type IdentityAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// AccountAPI is the account-level read the account check calls.
type AccountAPI interface {
	GetPublicAccessBlock(context.Context, *s3control.GetPublicAccessBlockInput, ...func(*s3control.Options)) (*s3control.GetPublicAccessBlockOutput, error)
}

// IsAWS reports whether endpoint is Amazon S3 itself: the SDK's default
// ("") or an https amazonaws.com host. Only there does S3 Control exist;
// the doctor sends it nothing elsewhere.
func IsAWS(endpoint string) bool {
	if endpoint == "" {
		return true
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" {
		return false
	}
	h := u.Hostname()
	return strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn")
}

// AccountNotAWS is the account row for a store that is not AWS, named by
// store (its endpoint, or "the embedded store"): S3-compatible stores have
// no account-level block to read.
func AccountNotAWS(store string) Result {
	return Result{Control: CtlAccountPublicAccessBlock, Status: Unknown,
		Why: store + " is not AWS: S3 Control does not exist there",
		Fix: "check that the store's own settings allow no anonymous access"}
}

// CheckAccount reads the account-level S3 Block Public Access of the
// account the gateway's credentials belong to. AWS applies the most
// restrictive combination of it and each bucket's own block, so it guards
// every bucket of that account, including ones created later.
func CheckAccount(ctx context.Context, ids IdentityAPI, api AccountAPI, opts Options) Result {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id, err := ids.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || id.Account == nil || *id.Account == "" {
		why := "empty answer"
		if err != nil {
			why = describe(err)
		}
		return Result{Control: CtlAccountPublicAccessBlock, Status: Unknown,
			Why: "could not learn the account (sts GetCallerIdentity): " + why,
			Fix: "check the gateway's AWS credentials and its route to STS"}
	}
	account := *id.Account
	out, err := api.GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: &account})
	return accountPublicAccessBlock(account, out, err)
}

func accountPublicAccessBlock(account string, out *s3control.GetPublicAccessBlockOutput, err error) Result {
	const ctl = CtlAccountPublicAccessBlock
	fix := "aws s3control put-public-access-block --account-id " + account +
		" --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
	if err != nil {
		r, missing := unread(ctl, err, "NoSuchPublicAccessBlockConfiguration")
		if !missing {
			r.Why = "account " + account + ": " + r.Why
			r.Fix = "check the gateway's route to S3 Control"
			var ae smithy.APIError
			if errors.As(err, &ae) {
				r.Fix = "grant the gateway's identity s3:GetAccountPublicAccessBlock"
			}
			r.Fix += ", or check by hand: aws s3control get-public-access-block --account-id " + account
			return r
		}
		return Result{Control: ctl, Status: Fail, Why: "account " + account + " has no account-level public access block", Fix: fix}
	}
	c := out.PublicAccessBlockConfiguration
	if c == nil {
		return Result{Control: ctl, Status: Unknown, Why: "account " + account + ": empty answer",
			Fix: "check by hand: aws s3control get-public-access-block --account-id " + account}
	}
	if off := flagsOff(c.BlockPublicAcls, c.IgnorePublicAcls, c.BlockPublicPolicy, c.RestrictPublicBuckets); len(off) > 0 {
		return Result{Control: ctl, Status: Fail, Why: "account " + account + " off: " + strings.Join(off, ", "), Fix: fix}
	}
	return Result{Control: ctl, Status: Pass, Why: "account " + account + ": all four flags on"}
}

// WithAccount notes on each bucket row of the public access block that is
// not PASS whether the account-level block covers it today. The row keeps
// its status: the bucket's own block is the one that travels with the
// bucket and that the PHI team owns, while the account's can be turned off
// by whoever runs the account's other buckets (a public website, say), and
// a bucket owned by another account is not covered by this one at all.
func WithAccount(rs []Result, account Result) []Result {
	if account.Status != Pass {
		return rs
	}
	for i, r := range rs {
		if r.Control == CtlPublicAccessBlock && r.Status != Pass {
			rs[i].Why += "; covered today by the account-level block if the bucket is in that account, but set it on the bucket so it holds if the account's changes"
		}
	}
	return rs
}
