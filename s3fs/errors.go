package s3fs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Error is what a partner sees: an SFTP status code and a plain message. pkg/sftp
// sends Error() verbatim, so the message never carries S3 text, bucket names or
// other tenants' prefixes; the cause goes to the log.
type Error struct {
	code    error // one of sftp.ErrSSHFx*, found by pkg/sftp with errors.As
	msg     string
	refusal string // why the server refused the request, for the audit trail; "" when it tried and failed
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.code }

// Refusal categories, the audit record's reason for a denied request.
const (
	refusedPermission  = "permission"  // the user lacks the permission, or the target exists
	refusedJail        = "jail"        // the path is not one the jail accepts
	refusedUnsupported = "unsupported" // S3 or this server cannot do it
	refusedAudit       = "audit"       // the audit trail cannot be written
)

func denied(msg string) error   { return &Error{sftp.ErrSSHFxPermissionDenied, msg, refusedPermission} }
func notFound(msg string) error { return &Error{sftp.ErrSSHFxNoSuchFile, msg, ""} }
func failure(msg string) error  { return &Error{sftp.ErrSSHFxFailure, msg, ""} }

// conflict refuses a request because a file has the name: SSH_FX_FAILURE, as
// OpenSSH answers an exclusive create or a rename onto an existing file, and
// recorded as a refusal.
func conflict(msg string) error { return &Error{sftp.ErrSSHFxFailure, msg, refusedPermission} }
func unsupported(msg string) error {
	return &Error{sftp.ErrSSHFxOpUnsupported, msg, refusedUnsupported}
}

// visible is err as the partner may see it: an *Error as it is, a path the
// jail refused (a *vfs.PathError) as a refusal, an upload's own failure
// (an *upload.Error) as a failure, or nil for any other error,
// whose text may carry S3's words, a bucket or a key. The edge (edge.go)
// sends a generic failure in its place.
func visible(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var pe *vfs.PathError
	if errors.As(err, &pe) {
		return &Error{sftp.ErrSSHFxFailure, pe.Error(), refusedJail}
	}
	if errors.Is(err, download.ErrEncryptedSeek) {
		return &Error{sftp.ErrSSHFxOpUnsupported, err.Error(), refusedUnsupported}
	}
	var ue *upload.Error
	if errors.As(err, &ue) {
		return &Error{sftp.ErrSSHFxFailure, ue.Msg, ue.Reason}
	}
	return nil
}

// errAuditDown refuses file operations while on_failure = "deny" and the
// audit trail cannot be written.
var errAuditDown = &Error{sftp.ErrSSHFxFailure,
	"refused: the audit log cannot be written, so file operations are suspended; try again later", refusedAudit}

// errNoSuchFile is the status for a path that does not exist, with the
// text OpenSSH's sftp-server sends.
var errNoSuchFile = notFound("No such file")

// s3Failure logs the full cause of a failed S3 call and returns the partner's
// version of it. op describes what the partner asked for ("upload", "rename").
// keys are the object keys the call touched other than path's own (a rename's
// target, an upload's final key), which the log hides as it hides path's.
func (h *handlers) s3Failure(op, path string, err error, keys ...string) error {
	if se := visible(err); se != nil {
		return se
	}
	if key, kerr := h.home.Key(path); kerr == nil {
		keys = append(keys, key)
	}
	level := slog.LevelError
	if expectedNotFound(err) { // a client asking for a name that is not there: routine, not a fault
		level = slog.LevelDebug
	}
	h.log.LogAttrs(h.ctx, level, "storage request failed",
		slog.String("op", op), slog.String("path", h.audit.Name(path)), slog.String("err", h.cause(err, keys...)))
	switch {
	case isNotFound(err):
		return errNoSuchFile
	case httpStatus(err) == http.StatusForbidden:
		return denied(op + " refused by storage: access denied")
	case isPrecondition(err) && op == "upload": // If-None-Match: the upload may not replace
		return h.refuseOverwrite(op, "file")
	case errors.Is(err, download.ErrCorrupt):
		return failure(op + " failed: the file's content does not match the checksum recorded when it was uploaded; it may be damaged in storage, ask the sender to upload it again")
	case isPrecondition(err): // If-Match: the object changed under a read or copy
		return failure(op + " failed: the file was replaced meanwhile; try again")
	case errors.Is(err, objfmt.ErrAuth):
		return failure(op + " failed: the stored file failed its integrity check (damaged or altered); no data from the damaged part was sent")
	case errors.Is(err, objfmt.ErrUnknownKEK):
		return failure(op + " failed: the file's encryption key is not configured on this server")
	case errors.Is(err, errFormat1):
		return failure(op + " refused: the stored file is in an old encryption format this server no longer accepts; ask the administrator to run s3sftpd rewrap")
	case errors.Is(err, errNotEncrypted):
		return failure(op + " refused: the stored file is not encrypted by this server")
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return failure(op + " failed: session is closing")
	}
	return failure(op + " failed: storage error, nothing was changed")
}

// S3's answers are read through store's readers, which know the SDK's
// error types.
var (
	httpStatus = store.HTTPStatus
	isNotFound = store.IsNotFound
)

// isPrecondition reports a failed If-Match or If-None-Match.
func isPrecondition(err error) bool {
	return httpStatus(err) == http.StatusPreconditionFailed || errors.Is(err, download.ErrChanged)
}

// isNotImplemented reports a store's answer to a request it does not
// support (object tags, on the embedded store and some others).
func isNotImplemented(err error) bool {
	return httpStatus(err) == http.StatusNotImplemented || store.ErrorCode(err) == "NotImplemented"
}

// expectedNotFound reports a 404 for an object that is not there, which
// clients cause all the time (get or rename of a missing file). A missing
// bucket or multipart upload is a fault of the set-up or of the gateway.
func expectedNotFound(err error) bool {
	if code := store.ErrorCode(err); code == "NoSuchBucket" || code == "NoSuchUpload" {
		return false
	}
	return isNotFound(err)
}

// isInvalidArgument reports S3's InvalidArgument, its answer to a bad marker.
func isInvalidArgument(err error) bool { return store.ErrorCode(err) == "InvalidArgument" }
