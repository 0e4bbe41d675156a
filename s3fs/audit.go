package s3fs

import (
	"cmp"
	"strings"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Every request that reads, writes or changes a name leaves one audit record,
// written after the request's outcome is known: its result is what the
// partner was told. Transfers leave two, at open and at close.

// auditReady refuses new file operations while the trail cannot be written.
func (h *handlers) auditReady() error {
	if h.audit.Check() != nil {
		return boundary.ErrAuditDown
	}
	return nil
}

// record completes r with the outcome of err (keeping a Result and a Reason already set)
// and writes it. Its error is non-nil when the record was lost and the policy
// is to deny.
func (h *handlers) record(r audit.Record, err error) error {
	result, reason, msg := boundary.Outcome(err)
	r.Result, r.Reason, r.Error = cmp.Or(r.Result, result), cmp.Or(r.Reason, reason), msg
	return h.audit.Record(r)
}

// named is r, a record of a file at pl, with pl's bucket and folder (the
// home's records name none, as before folders).
func named(r audit.Record, pl vfs.Place) audit.Record {
	if pl.Mount != nil && r.Key != "" {
		r.Bucket = pl.Mount.Bucket
		if pl.Folder != "/" {
			r.Folder = pl.Folder
		}
	}
	return r
}

// etag is an ETag without its quotes, as the trail records it.
func etag(s string) string { return strings.Trim(s, `"`) }
