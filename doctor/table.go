package doctor

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Write prints the results as a table: bucket, control, status, why, fix.
func Write(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tCONTROL\tSTATUS\tWHY\tHOW TO FIX")
	for _, r := range rs {
		b := r.Bucket
		if b == "" {
			b = "-"
		}
		fix := r.Fix
		if fix == "" {
			fix = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b, r.Control, r.Status, r.Why, fix)
	}
	return tw.Flush()
}
