package boundary

import (
	"context"
	"errors"
	"net/http"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/store"
)

// Storage is the partner's version of a failed storage request; op is what
// the partner asked for ("download", "rename"). It says what happened in
// plain words and nothing of S3's: the cause is the caller's to log.
func Storage(op string, err error) error {
	switch {
	case store.IsNotFound(err):
		return ErrNoSuchFile
	case store.HTTPStatus(err) == http.StatusForbidden:
		return Denied(op + " refused by storage: access denied")
	case errors.Is(err, download.ErrCorrupt):
		return Failure(op + " failed: the file's content does not match the checksum recorded when it was uploaded; it may be damaged in storage, ask the sender to upload it again")
	case IsPrecondition(err): // If-Match: the object changed under a read or copy
		return Failure(op + " failed: the file was replaced meanwhile; try again")
	case errors.Is(err, objfmt.ErrAuth):
		return Failure(op + " failed: the stored file failed its integrity check (damaged or altered); no data from the damaged part was sent")
	case errors.Is(err, objfmt.ErrUnknownKEK):
		return Failure(op + " failed: the file's encryption key is not configured on this server")
	case errors.Is(err, sealing.ErrFormat1):
		return Failure(op + " refused: the stored file is in an old encryption format this server no longer accepts; ask the administrator to run s3sftpd rewrap")
	case errors.Is(err, sealing.ErrNotEncrypted):
		return Failure(op + " refused: the stored file is not encrypted by this server")
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return Failure(op + " failed: session is closing")
	}
	return Failure(op + " failed: storage error, nothing was changed")
}

// IsPrecondition reports a failed If-Match or If-None-Match.
func IsPrecondition(err error) bool {
	return store.HTTPStatus(err) == http.StatusPreconditionFailed || errors.Is(err, download.ErrChanged)
}

// Outcome turns the partner's error into an audit record's result, reason
// and message. The message is the one the partner saw: it names no S3
// detail.
func Outcome(err error) (result, reason, msg string) {
	if err == nil {
		return audit.ResultOK, "", ""
	}
	se := Visible(err)
	if se == nil { // the cause, which the partner never saw (Edge)
		return audit.ResultError, "", err.Error()
	}
	if se.Refusal != "" {
		return audit.ResultDenied, se.Refusal, se.Msg
	}
	return audit.ResultError, "", se.Msg
}
