package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/store"
)

// A gateway killed mid-upload (kill -9, OOM, power loss) never sends
// AbortMultipartUpload: the parts it sent stay in the bucket, invisible but
// billed, and, for PHI, data at rest that no object owns. Nothing partial ever
// becomes visible (an object appears only on Complete), so the only clean-up
// is to abort such orphans. The sweeper here does it; the bucket lifecycle
// rule AbortIncompleteMultipartUpload is the second line (see docs/operations.md).
//
// Which uploads are s3sftpd's own: ListMultipartUploads returns no metadata,
// so the objfmt.UploadMarker set at creation cannot be read back while an upload is in
// progress. The rule is therefore by place: the sweeper is given the users'
// homes, which are s3sftpd's namespace (partners reach them only through the
// gateway, and config keeps every other writer, such as the audit copy, out
// of them), and it touches nothing outside those prefixes.
//
// Which are orphans: an upload initiated more than age ago. Another gateway
// behind the same load balancer may still be writing a young upload, so age
// must exceed the longest upload expected (default 24h). This process's own
// uploads in flight are never aborted, whatever their age (s3fs.FS.InFlight).

// Prefix is a key prefix in a bucket where only s3sftpd writes: a user's home.
type Prefix struct{ Bucket, Prefix string }

// SweepResult counts what one sweep of one prefix did.
type SweepResult struct {
	Prefix
	Aborted []string // ids of the uploads aborted
}

// Sweep is one orphan sweep's set-up.
type Sweep struct {
	// FS is the gateway's: the sweep lists and aborts through its object
	// API, and spares the uploads it has in flight.
	FS   *s3fs.FS
	Now  func() time.Time // nil is time.Now; tests move it
	Page int32            // uploads per listing page; 0 is the store's 1000; tests lower it
}

// Run aborts the multipart uploads under each prefix that were initiated
// more than age ago and are not in flight in this process. It goes on after
// a failure and returns every prefix's result and the failures joined.
func (s Sweep) Run(ctx context.Context, prefixes []Prefix, age time.Duration) ([]SweepResult, error) {
	var (
		results []SweepResult
		errs    []error
	)
	for _, p := range prefixes {
		r, err := s.sweep(ctx, p, age)
		results = append(results, r)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return results, errors.Join(errs...)
}

// maxOrphansPerSweep bounds the orphans one sweep of one prefix collects
// before aborting them; the rest wait for the next sweep.
const maxOrphansPerSweep = 10000

// sweep lists one prefix's uploads page by page, then aborts the orphans.
// Listing ends before the first abort, so that no page's markers name an
// upload that has gone: some stores refuse such a marker.
func (s Sweep) sweep(ctx context.Context, p Prefix, age time.Duration) (SweepResult, error) {
	r := SweepResult{Prefix: p}
	orphans, err := s.listOrphans(ctx, p, age)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, o := range orphans {
		err := s.FS.Objects().Abort(ctx, p.Bucket, o.Key, o.UploadID)
		switch {
		case store.IsNotFound(err): // completed or aborted meanwhile, maybe by another gateway
		case err != nil:
			errs = append(errs, fmt.Errorf("abort multipart upload %s in %s: %w", o.UploadID, p.Bucket, err))
		default:
			r.Aborted = append(r.Aborted, o.UploadID)
			s.FS.Swept(o.UploadID) // a pending upload never renamed
		}
	}
	return r, errors.Join(errs...)
}

// listOrphans returns the uploads under p initiated more than age ago and
// not in flight here.
func (s Sweep) listOrphans(ctx context.Context, p Prefix, age time.Duration) ([]store.Upload, error) {
	in := store.UploadsRequest{Bucket: p.Bucket, Prefix: p.Prefix, MaxUploads: s.Page}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	cutoff := now().Add(-age)
	var orphans []store.Upload
	for len(orphans) < maxOrphansPerSweep {
		page, err := s.FS.Objects().ListMultipartUploads(ctx, in)
		if in.UploadIDMarker != "" && store.ErrorCode(err) == "InvalidArgument" {
			// versitygw v1.8.0 refuses the NextUploadIdMarker it returned
			// (it drops the marker's key before looking for the id). Go on
			// from the next key: this sweep misses the marker key's other
			// uploads, which a later sweep, with other page bounds, finds.
			in.UploadIDMarker = ""
			page, err = s.FS.Objects().ListMultipartUploads(ctx, in)
		}
		if store.IsNotFound(err) { // gofakes3's answer when the bucket has no uploads
			return orphans, nil
		}
		if err != nil {
			return orphans, fmt.Errorf("list multipart uploads in %s: %w", p.Bucket, err)
		}
		for _, u := range page.Uploads {
			if !u.Initiated.IsZero() && u.Initiated.Before(cutoff) && !s.FS.InFlight(u.UploadID) {
				orphans = append(orphans, u)
			}
		}
		if !page.Truncated {
			return orphans, nil
		}
		if page.NextKeyMarker == "" && page.NextUploadIDMarker == "" {
			return orphans, fmt.Errorf("list multipart uploads in %s: truncated page without a next marker", p.Bucket)
		}
		in.KeyMarker, in.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
	return orphans, nil
}
