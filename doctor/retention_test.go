package doctor

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

func expireRule(id, prefix string, days, noncurrentDays int32) types.LifecycleRule {
	r := types.LifecycleRule{ID: aws.String(id), Status: types.ExpirationStatusEnabled,
		Filter: &types.LifecycleRuleFilter{Prefix: aws.String(prefix)}}
	if days > 0 {
		r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(days)}
	}
	if noncurrentDays > 0 {
		r.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(noncurrentDays)}
	}
	return r
}

// TestRetention_Rules: for a folder deleting after 30 days, a rule that
// expires its objects sooner, one that keeps noncurrent versions longer,
// or none in a versioned bucket is a WARN; rules elsewhere, disabled, or
// within the retention pass.
func TestRetention_Rules(t *testing.T) {
	rt := Retention{Prefix: "outbound/acme/", Retention: 30 * 24 * time.Hour}
	tests := []struct {
		name      string
		rules     []types.LifecycleRule
		versioned bool
		want      Status
		why       string
	}{
		{"no-rules-unversioned", nil, false, Pass, ""},
		{"no-rules-versioned", nil, true, Warn, "no rule expires noncurrent versions"},
		{"earlier-whole-bucket", []types.LifecycleRule{expireRule("purge", "", 7, 0)}, false, Warn, `rule "purge" expires current objects after 7 days`},
		{"earlier-inside-folder", []types.LifecycleRule{expireRule("tmp", "outbound/acme/tmp/", 1, 0)}, false, Warn, "after 1 days"},
		{"earlier-other-prefix", []types.LifecycleRule{expireRule("in", "inbound/", 1, 0)}, false, Pass, ""},
		{"earlier-disabled", []types.LifecycleRule{func() types.LifecycleRule {
			r := expireRule("off", "", 1, 0)
			r.Status = types.ExpirationStatusDisabled
			return r
		}()}, false, Pass, ""},
		{"later", []types.LifecycleRule{expireRule("late", "outbound/", 90, 0)}, false, Pass, ""},
		{"noncurrent-within", []types.LifecycleRule{expireRule("nc", "", 0, 7)}, true, Pass, ""},
		{"noncurrent-longer", []types.LifecycleRule{expireRule("nc", "", 0, 365)}, true, Warn, "noncurrent versions are kept 8760h0m0s"},
		{"tagged-rule-counts", []types.LifecycleRule{{ID: aws.String("tag"), Status: types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{Prefix: aws.String("outbound/"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(2)}}}, false, Warn, `rule "tag"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := retentionOf(rt, tt.rules, tt.versioned)
			if got.Status != tt.want || !strings.Contains(got.Why, tt.why) || got.Control != "retention:outbound/acme/" {
				t.Errorf("got %s %q (%s); want %s containing %q", got.Status, got.Why, got.Control, tt.want, tt.why)
			}
		})
	}
}

// TestRetention_Unreadable: a store without the lifecycle API (versitygw)
// makes every folder's check UNKNOWN, saying it could not be checked; no
// configuration at all is no rule.
func TestRetention_Unreadable(t *testing.T) {
	rets := []Retention{{Prefix: "a/", Retention: time.Hour}, {Prefix: "b/", Retention: time.Hour}}
	rs := retention(rets, false)(nil, &smithy.GenericAPIError{Code: "NotImplemented"})
	if len(rs) != 2 {
		t.Fatalf("%d results; want 2", len(rs))
	}
	for _, r := range rs {
		if r.Status != Unknown || !strings.HasPrefix(r.Why, "could not be checked") {
			t.Errorf("got %s %q; want UNKNOWN, could not be checked", r.Status, r.Why)
		}
	}
	rs = retention(rets[:1], false)(nil, &smithy.GenericAPIError{Code: "NoSuchLifecycleConfiguration"})
	if len(rs) != 1 || rs[0].Status != Pass {
		t.Errorf("without a lifecycle configuration got %+v; want PASS", rs)
	}
	rets[0].Retention = 30 * 24 * time.Hour
	rs = retention(rets[:1], false)(&s3.GetBucketLifecycleConfigurationOutput{Rules: []types.LifecycleRule{expireRule("x", "", 1, 0)}}, nil)
	if len(rs) != 1 || rs[0].Status != Warn {
		t.Errorf("with an early rule got %+v; want WARN", rs)
	}
}
