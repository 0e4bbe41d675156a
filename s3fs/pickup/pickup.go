// Package pickup deletes a file its user has picked up: once a whole
// download of a file in a delete_after_download folder closed without
// error, exactly the version downloaded is deleted, never a newer one
// uploaded meanwhile (then the file stays and the trail says "skipped",
// "changed"). The retention sweep (package lifecycle) deletes the same way
// (Delete). It names the audit events of a file's lifecycle, which the
// event pipeline turns into events. It must not import s3fs.
package pickup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/store"
)

// The audit events of a file's lifecycle (docs/audit.md).
const (
	// EventPickupDelete: a whole download deleted the file, in the
	// user's session.
	EventPickupDelete = "pickup_delete"
	// EventRetentionDelete: the file outlived its folder's retention and
	// the sweep deleted it (a server record).
	EventRetentionDelete = "retention_delete"
	// EventNotPickedUp: the file has waited its folder's
	// not_picked_up_after (a server record, once per file).
	EventNotPickedUp = "not_picked_up"
)

// ResultSkipped is the result of a delete that was not made, for Reason.
const ResultSkipped = "skipped"

// Reasons a delete was skipped: the object at the name is no longer the
// one read or listed (replaced, or its ETag changed), or it is gone.
const (
	ReasonChanged = "changed"
	ReasonGone    = "gone"
)

// Errors of Delete that leave everything as it was.
var (
	ErrChanged = errors.New("object changed since it was read")
	ErrGone    = errors.New("object is gone")
)

// File is the object to delete as it was read or listed: its ETag (as S3
// spells it, quoted) and, when known, its version id.
type File struct {
	Bucket, Key     string
	ETag, VersionID string
}

// Delete deletes exactly f and returns what S3 held of it. The object at
// the key must still have f's ETag (and f's version id, when set): a HEAD
// checks that, then the delete names the version (a versioned bucket:
// deleted for good, no delete marker) or carries If-Match on the ETag (an
// unversioned one). A store that ignores If-Match on DeleteObject leaves
// the moment between the HEAD and the delete, in which a newer upload
// could be deleted; versitygw and S3 honour it. ErrChanged or ErrGone say
// nothing was deleted.
func Delete(ctx context.Context, obj store.Objects, f File) (store.Object, error) {
	head, err := obj.Head(ctx, store.HeadRequest{Bucket: f.Bucket, Key: f.Key})
	switch {
	case store.IsNotFound(err):
		return store.Object{}, ErrGone
	case err != nil:
		return store.Object{}, fmt.Errorf("head %s: %w", f.Key, err)
	case head.ETag != f.ETag || f.VersionID != "" && head.VersionID != f.VersionID:
		return head, ErrChanged
	}
	err = obj.DeleteExact(ctx, store.DeleteRequest{Bucket: f.Bucket, Key: f.Key, VersionID: head.VersionID, IfMatch: f.ETag})
	switch {
	case store.IsPrecondition(err):
		return head, ErrChanged
	case store.IsNotFound(err):
		return head, ErrGone
	case err != nil:
		return head, fmt.Errorf("delete %s: %w", f.Key, err)
	}
	return head, nil
}

// Skipped is the result and reason a trail records for err, a Delete
// that was not made; ok is false for any other error.
func Skipped(err error) (result, reason string, ok bool) {
	switch {
	case errors.Is(err, ErrChanged):
		return ResultSkipped, ReasonChanged, true
	case errors.Is(err, ErrGone):
		return ResultSkipped, ReasonGone, true
	}
	return "", "", false
}

// Session is what a pickup needs of the session that downloaded the file
// (download.Session has it).
type Session interface {
	// Failed logs a failed storage call and returns the partner's
	// answer, the record's error.
	Failed(op, path string, err error, keys ...string) error
	// Record writes r completed with the outcome err, keeping a Result
	// and Reason r has.
	Record(r audit.Record, err error) error
}

// timeout bounds a pickup's calls: the session may be ending.
const timeout = 30 * time.Second

// After picks up the file a download's close record closed describes,
// read from bucket with the ETag etag: it deletes it (Delete) and records
// a pickup_delete in the session's trail, with the version downloaded.
// The caller has checked that the whole file went to the client and the
// close was recorded ok. ctx is the session's, which carries its role.
func After(ctx context.Context, obj store.Objects, s Session, bucket, etag string, closed audit.Record) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	r := audit.Record{Event: EventPickupDelete, Path: closed.Path, Key: closed.Key, VersionID: closed.VersionID,
		ETag: closed.ETag, Bytes: closed.Bytes}
	_, err := Delete(ctx, obj, File{Bucket: bucket, Key: closed.Key, ETag: etag, VersionID: closed.VersionID})
	if result, reason, ok := Skipped(err); ok {
		r.Result, r.Reason, err = result, reason, nil
	} else if err != nil {
		err = s.Failed("pickup", closed.Path, err, closed.Key)
	}
	s.Record(r, err)
}
