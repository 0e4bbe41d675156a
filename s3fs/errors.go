package s3fs

import (
	"log/slog"

	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
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
	pl, kerr := h.tree.Resolve(path)
	if kerr == nil && pl.Mount != nil {
		keys = append(keys, pl.Key)
	}
	level := slog.LevelError
	if boundary.RoutineNotFound(err) { // a client asking for a name that is not there: routine, not a fault
		level = slog.LevelDebug
	}
	h.log.LogAttrs(h.ctx, level, "storage request failed",
		slog.String("op", op), slog.String("path", h.audit.Name(path)), slog.String("err", h.cause(err, keys...)))
	if boundary.IsPrecondition(err) && op == "upload" && pl.Mount != nil { // If-None-Match: the upload may not replace
		return boundary.Overwrite(h.canSee(pl.Mount), op, "file")
	}
	return boundary.Storage(op, err)
}

// S3's answers are read through store's readers, which know the SDK's
// error types.
var isNotFound = store.IsNotFound
