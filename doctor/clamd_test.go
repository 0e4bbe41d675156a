package doctor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/clamdtest"
	"github.com/s3sftpd/s3sftpd/scan"
)

func TestClamd_ReachabilityAndDatabaseAge(t *testing.T) {
	d := clamdtest.Start(t)
	c, err := scan.New(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	week := 7 * 24 * time.Hour
	for _, tc := range []struct {
		name       string
		now        time.Time
		db         Status
		whyContain string
	}{
		{"fresh", d.Built.Add(3 * time.Hour), Pass, "database 27000 built " + d.Built.Format(time.RFC3339) + ", 3h0m0s old"},
		{"stale", d.Built.Add(30 * 24 * time.Hour), Fail, "database 27000 built " + d.Built.Format(time.DateOnly) + ", 30 days old (more than 7 days)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := Clamd(context.Background(), c, week, tc.now)
			if len(rs) != 2 || rs[0].Control != CtlClamd || rs[0].Status != Pass {
				t.Fatalf("reachability = %+v; want PASS", rs)
			}
			if rs[1].Status != tc.db || !strings.Contains(rs[1].Why, tc.whyContain) {
				t.Errorf("database age = %s %q; want %s with %q", rs[1].Status, rs[1].Why, tc.db, tc.whyContain)
			}
		})
	}
	d.Stop()
	rs := Clamd(context.Background(), c, week, time.Now())
	if rs[0].Status != Fail || rs[1].Status != Unknown || !strings.Contains(rs[0].Why, "does not answer") {
		t.Errorf("stopped clamd = %+v; want FAIL and UNKNOWN", rs)
	}
	if !Failed(rs) {
		t.Error("Failed = false for a stopped clamd; want doctor to exit 1")
	}
}
