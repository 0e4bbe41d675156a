package s3fs

import (
	"strings"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
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

// record completes r with the outcome of err (keeping a Result already set)
// and writes it. Its error is non-nil when the record was lost and the policy
// is to deny.
func (h *handlers) record(r audit.Record, err error) error {
	result, reason, msg := outcome(err)
	if r.Result == "" {
		r.Result = result
	}
	r.Reason, r.Error = reason, msg
	if r.Key != "" || r.TargetKey != "" {
		r.Bucket = h.home.Bucket
	}
	return h.audit.Record(r)
}

// outcome turns the partner's error into the record's result, reason and
// message. The message is the one the partner saw: it names no S3 detail.
func outcome(err error) (result, reason, msg string) {
	if err == nil {
		return audit.ResultOK, "", ""
	}
	se := boundary.Visible(err)
	if se == nil { // the cause, which the partner never saw (boundary.Edge)
		return audit.ResultError, "", err.Error()
	}
	if se.Refusal != "" {
		return audit.ResultDenied, se.Refusal, se.Msg
	}
	return audit.ResultError, "", se.Msg
}

// etag is an ETag without its quotes, as the trail records it.
func etag(s string) string { return strings.Trim(s, `"`) }
