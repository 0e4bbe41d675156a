package doctor

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CtlRetention is the control of a folder's retention against the
// bucket's lifecycle rules; its rows are named "retention:PREFIX".
const CtlRetention = "retention"

// Retention is a folder whose files the gateway deletes after a while
// (retention): the bucket's own lifecycle rules must neither delete them
// earlier, behind the trail's back, nor keep their old versions longer.
type Retention struct {
	Prefix    string
	Retention time.Duration
}

// retention checks each folder's retention against the lifecycle
// configuration out (err: as read) of a bucket that keeps versions or not.
// A rule earlier than the retention is a WARN (its deletions leave no
// retention_delete in the trail), as is a versioned bucket whose noncurrent
// versions of the folder outlive the retention (copies of PHI linger). A
// store without the call is UNKNOWN: could not be checked.
func retention(rets []Retention, versioned bool) func(*s3.GetBucketLifecycleConfigurationOutput, error) []Result {
	return func(out *s3.GetBucketLifecycleConfigurationOutput, err error) []Result {
		var rules []types.LifecycleRule
		if err != nil {
			r, missing := unread(CtlRetention, err, "NoSuchLifecycleConfiguration")
			if !missing {
				r.Why = "could not be checked: " + strings.TrimPrefix(r.Why, "could not read: ")
				out := make([]Result, len(rets))
				for i, rt := range rets {
					out[i] = r
					out[i].Control = CtlRetention + ":" + rt.Prefix
				}
				return out
			}
		} else {
			rules = out.Rules
		}
		var rs []Result
		for _, rt := range rets {
			rs = append(rs, retentionOf(rt, rules, versioned))
		}
		return rs
	}
}

// retentionOf is the verdict for one folder.
func retentionOf(rt Retention, rules []types.LifecycleRule, versioned bool) Result {
	ctl := CtlRetention + ":" + rt.Prefix
	var warns []string
	noncurrent := time.Duration(-1) // the earliest expiry of noncurrent versions; -1: none
	for _, rule := range rules {
		if rule.Status != types.ExpirationStatusEnabled || !covers(rule, rt.Prefix) {
			continue
		}
		if e := rule.Expiration; e != nil {
			if days := aws.ToInt32(e.Days); days > 0 && daysOf(days) < rt.Retention {
				warns = append(warns, fmt.Sprintf("rule %q expires current objects after %d days, before the retention %s: S3 deletes them without a retention_delete in the trail",
					aws.ToString(rule.ID), days, rt.Retention))
			} else if e.Date != nil {
				warns = append(warns, fmt.Sprintf("rule %q expires current objects on %s, whatever their age: S3 deletes them without a retention_delete in the trail",
					aws.ToString(rule.ID), e.Date.Format(time.DateOnly)))
			}
		}
		if n := rule.NoncurrentVersionExpiration; n != nil && aws.ToInt32(n.NoncurrentDays) > 0 {
			if d := daysOf(aws.ToInt32(n.NoncurrentDays)); noncurrent < 0 || d < noncurrent {
				noncurrent = d
			}
		}
	}
	if versioned {
		switch {
		case noncurrent < 0:
			warns = append(warns, "the bucket keeps versions and no rule expires noncurrent versions under the folder: copies of overwritten files stay for ever")
		case noncurrent > rt.Retention:
			warns = append(warns, fmt.Sprintf("noncurrent versions are kept %s, longer than the retention %s: copies of overwritten files outlive it", noncurrent, rt.Retention))
		}
	}
	if len(warns) > 0 {
		return Result{Control: ctl, Status: Warn, Why: strings.Join(warns, "; "),
			Fix: fmt.Sprintf("let no rule expire objects under %s earlier than %s, and expire its noncurrent versions within it (NoncurrentVersionExpiration)", rt.Prefix, rt.Retention)}
	}
	return Result{Control: ctl, Status: Pass, Why: "no lifecycle rule deletes earlier than the retention " + rt.Retention.String() + " or keeps old versions longer"}
}

// covers reports whether a rule may apply to objects under prefix: its
// prefix holds the folder or lies inside it. A rule narrowed by tags or
// sizes may apply to some of them, so it counts.
func covers(rule types.LifecycleRule, prefix string) bool {
	var p string
	switch f := rule.Filter; {
	case f == nil:
		p = aws.ToString(rule.Prefix) //nolint:staticcheck // the deprecated Prefix is still answered by older buckets
	case f.And != nil:
		p = aws.ToString(f.And.Prefix)
	default:
		p = aws.ToString(f.Prefix)
	}
	return strings.HasPrefix(prefix, p) || strings.HasPrefix(p, prefix)
}

func daysOf(n int32) time.Duration { return time.Duration(n) * 24 * time.Hour }

// versionedOf reports whether a bucket keeps (or kept) versions.
func versionedOf(out *s3.GetBucketVersioningOutput, err error) bool {
	return err == nil && out.Status != ""
}
