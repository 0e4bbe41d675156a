package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/clamdtest"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_DoctorChecksClamd: with [scan] on, doctor reports a real clamd's
// reachability and its signature database's age, and fails (exit 1) on a
// stale database or a clamd that does not answer.
func TestE2E_DoctorChecksClamd(t *testing.T) {
	s3srv := s3test.Start(t)
	for _, tc := range []struct {
		name             string
		age              time.Duration
		stop             bool
		reachable, dbAge string
	}{
		{"fresh", time.Hour, false, "PASS", "PASS"},
		{"stale", 10 * 24 * time.Hour, false, "PASS", "FAIL"},
		{"stopped", 0, true, "FAIL", "UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := clamdtest.Start(t, clamdtest.Options{DatabaseAge: tc.age})
			path := writeTestConfig(t, s3srv, "")
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("\n[scan]\nclamd = \"" + d.Address + "\"\n")
			f.Close()
			if tc.stop {
				d.Stop()
			}
			out, errOut, code := runToolCode(t, s3srv, "doctor", "-config", path)
			if code != 1 && code != 0 {
				t.Fatalf("doctor exit %d\n%s%s", code, out, errOut)
			}
			if got := statusOf(t, out, "clamd-reachable"); got != tc.reachable {
				t.Errorf("clamd-reachable = %s; want %s\n%s", got, tc.reachable, out)
			}
			if got := statusOf(t, out, "clamd-database-age"); got != tc.dbAge {
				t.Errorf("clamd-database-age = %s; want %s\n%s", got, tc.dbAge, out)
			}
			if tc.name == "stale" && !strings.Contains(out, "10 days old") {
				t.Errorf("the stale row does not say the age:\n%s", out)
			}
			if tc.reachable == "FAIL" || tc.dbAge == "FAIL" {
				if code != 1 {
					t.Errorf("doctor exit %d with a failed scan check; want 1", code)
				}
			}
		})
	}
}
