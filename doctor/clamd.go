package doctor

import (
	"context"
	"fmt"
	"time"

	"github.com/s3sftpd/s3sftpd/scan"
)

// Controls of the malware scanner ([scan] clamd), which uploads to scanned
// folders wait for.
const (
	CtlClamd         = "clamd-reachable"
	CtlClamdDatabase = "clamd-database-age"
)

// Scanner is doctor's rows for [scan] clamd = address, none when it is ""
// (uploads are not scanned): clamd's reachability, and a signature
// database younger than a week (the age at which ClamAV warns itself).
func Scanner(ctx context.Context, address string, now time.Time) []Result {
	if address == "" {
		return nil
	}
	c, err := scan.New(address)
	if err != nil {
		return []Result{{Control: CtlClamd, Status: Fail, Why: err.Error(), Fix: "correct [scan] clamd"}}
	}
	return Clamd(ctx, c, 7*24*time.Hour, now)
}

// Clamd checks that clamd answers and that its signature database is
// younger than maxAge at now: a scanner that works with a database
// freshclam stopped updating misses what came since.
func Clamd(ctx context.Context, c *scan.Client, maxAge time.Duration, now time.Time) []Result {
	const fixUp = "start clamd (Debian: systemctl start clamav-daemon) or correct [scan] clamd"
	if err := c.Ping(ctx); err != nil {
		return []Result{
			{Control: CtlClamd, Status: Fail, Why: fmt.Sprintf("%s does not answer: %v", c, err), Fix: fixUp},
			{Control: CtlClamdDatabase, Status: Unknown, Why: "clamd does not answer", Fix: fixUp},
		}
	}
	v, err := c.Version(ctx)
	if err != nil {
		return []Result{
			{Control: CtlClamd, Status: Pass, Why: c.String() + " answers"},
			{Control: CtlClamdDatabase, Status: Unknown, Why: fmt.Sprintf("no version: %v", err), Fix: "check clamd's log"},
		}
	}
	reachable := Result{Control: CtlClamd, Status: Pass, Why: fmt.Sprintf("%s answers (ClamAV %s)", c, v.Engine)}
	const fixDB = "check freshclam (Debian: systemctl status clamav-freshclam) and its log"
	switch age := v.Age(now); {
	case v.Database == 0:
		return []Result{reachable, {Control: CtlClamdDatabase, Status: Fail, Why: "clamd reports no signature database version (no daily database loaded)", Fix: fixDB}}
	case age > maxAge:
		return []Result{reachable, {Control: CtlClamdDatabase, Status: Fail,
			Why: fmt.Sprintf("database %d built %s, %s old (more than %s)", v.Database, v.Built.UTC().Format(time.DateOnly), roundAge(age), roundAge(maxAge)), Fix: fixDB}}
	default:
		return []Result{reachable, {Control: CtlClamdDatabase, Status: Pass,
			Why: fmt.Sprintf("database %d built %s, %s old", v.Database, v.Built.UTC().Format(time.RFC3339), roundAge(max(age, 0)))}}
	}
}

// roundAge shows an age in hours, or in days past two.
func roundAge(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.Round(time.Minute).String()
}
