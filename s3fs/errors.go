package s3fs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/store"
)

// s3Failure logs the full cause of a failed S3 call and returns the partner's
// version of it. op describes what the partner asked for ("upload", "rename").
// keys are the object keys the call touched other than path's own (a rename's
// target, an upload's final key), which the log hides as it hides path's.
func (h *handlers) s3Failure(op, path string, err error, keys ...string) error {
	if se := boundary.Visible(err); se != nil {
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
		return boundary.ErrNoSuchFile
	case httpStatus(err) == http.StatusForbidden:
		return boundary.Denied(op + " refused by storage: access denied")
	case isPrecondition(err) && op == "upload": // If-None-Match: the upload may not replace
		return h.refuseOverwrite(op, "file")
	case errors.Is(err, download.ErrCorrupt):
		return boundary.Failure(op + " failed: the file's content does not match the checksum recorded when it was uploaded; it may be damaged in storage, ask the sender to upload it again")
	case isPrecondition(err): // If-Match: the object changed under a read or copy
		return boundary.Failure(op + " failed: the file was replaced meanwhile; try again")
	case errors.Is(err, objfmt.ErrAuth):
		return boundary.Failure(op + " failed: the stored file failed its integrity check (damaged or altered); no data from the damaged part was sent")
	case errors.Is(err, objfmt.ErrUnknownKEK):
		return boundary.Failure(op + " failed: the file's encryption key is not configured on this server")
	case errors.Is(err, sealing.ErrFormat1):
		return boundary.Failure(op + " refused: the stored file is in an old encryption format this server no longer accepts; ask the administrator to run s3sftpd rewrap")
	case errors.Is(err, sealing.ErrNotEncrypted):
		return boundary.Failure(op + " refused: the stored file is not encrypted by this server")
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return boundary.Failure(op + " failed: session is closing")
	}
	return boundary.Failure(op + " failed: storage error, nothing was changed")
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
