package upload

// The end of an upload: CLOSE's checks and last part, the stages' verdict,
// the commit (one PutObject, or CompleteMultipartUpload and its tags) or
// the abort, the audit record, and what a temporary name leaves pending
// for its rename or resume (pending.go holds the table).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// Close commits the upload if every byte reached S3, and aborts it otherwise.
// Its error is the partner's answer to CLOSE: a failed upload never reports success.
func (u *Upload) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	err := u.finish()
	aborted := u.aborted
	u.mu.Unlock()
	u.wg.Wait() // every part has answered; nothing else touches u now
	u.s.Forget(u.path, u)
	if u.releaseSlot != nil {
		u.releaseSlot()
	}

	if err == nil {
		err = u.failed
	}
	if err == nil && u.uploadID != "" { // every part passed the stages: they may still veto
		err = u.vet()
	}
	temp := u.final != "" && u.uploadID != ""
	switch {
	case temp && err == nil:
		u.keepPending() // its rename completes it
	case temp && aborted && u.keepWholeParts():
		u.keepPending() // kept for a resume
	case err == nil && u.uploadID != "":
		err = u.complete()
		if err == nil {
			u.keepLateMtime()
		}
	}
	// what was never sent: a failed or single-put upload, waiting writes
	u.cfg.Budget.Release(u.s.User(), u.held)
	u.cfg.Budget.Finished(u.s.User(), u)
	u.held, u.part = 0, nil
	u.cancel()
	attrs := []slog.Attr{slog.String("path", u.s.Name(u.path)), slog.Int64("bytes", u.size),
		slog.Int64("dur_ms", time.Since(u.started).Milliseconds())}
	switch {
	case u.pending:
		u.log(slog.LevelInfo, "upload pending", append(attrs, slog.Int64("kept", u.size))...)
	case err != nil:
		u.abort()
		u.log(slog.LevelWarn, "upload failed", append(attrs, slog.String("err", err.Error()))...)
	case !u.untouched:
		u.s.Remember(u.path, u.size)
		u.log(slog.LevelInfo, "upload complete", attrs...)
	}
	if u.untrack != nil { // completed or aborted: no longer in flight
		u.untrack()
	}
	if !u.retriedCreate.IsZero() {
		u.abortStrays()
	}
	u.record(err, aborted)
	return err
}

// record writes the close record: what was stored, or why nothing was.
func (u *Upload) record(err error, aborted bool) {
	r := audit.Record{Event: audit.EventClose, Mode: "write", Path: u.path, Key: u.key,
		Bytes: audit.Int(u.size), DurMS: audit.Since(u.started)}
	switch {
	case u.pending && err != nil:
		r.Op = fmt.Sprintf("interrupted: %d bytes kept for a resume under the temporary name", u.size)
	case u.pending:
		r.Op = "bytes received, pending: stored by the rename onto the final name"
	case err == nil && u.untouched:
		r.Op = "nothing written, object unchanged"
	case err == nil:
		r.SHA256 = u.sum.Hex()
		r.ETag, r.VersionID = trimETag(u.stored.ETag), u.stored.VersionID
	}
	r.Scan, r.Signer = u.gateNote.Scan, u.gateNote.Signer // set once the gates agreed
	if err != nil && (aborted || u.s.Context().Err() != nil) {
		r.Result = audit.ResultAborted // the connection ended, storage did not fail
	}
	u.s.Record(r, err)
}

// finish checks the bytes received are whole and sends the last part, or the
// whole file as one PutObject when it fits in a single part. Nothing is
// committed while the audit trail cannot record it.
func (u *Upload) finish() error {
	if u.failed != nil {
		return u.failed
	}
	if err := u.s.AuditReady(); err != nil {
		return u.fail(failure("upload failed: the audit log cannot be written, nothing was stored; try again later"))
	}
	pt := u.part
	if pt == nil && u.keepIfUntouched && !u.truncate {
		u.untouched = true
		return nil
	}
	if pt == nil { // nothing written: an empty file
		pt = &part{num: 1}
	}
	if len(u.ahead) > 0 || !pt.contiguous() || pt.start+int64(len(pt.buf)) != u.size {
		return u.fail(failure("upload failed: file has gaps (append and resume are not supported), nothing was stored"))
	}
	if u.uploadID == "" {
		return u.putWhole(pt.buf)
	}
	// The stages see the end even of a file that ends on a part boundary (a
	// stage that holds bytes back hands them on then); an empty tail is
	// stored only when they pass something on (envelope: the final chunk).
	pt.last = true
	u.tailSent = len(pt.buf) > 0 || u.roomFor(0) > 0
	return u.send(pt)
}

// putWhole stores a file that fits one part with one PutObject, once the
// stages have passed it whole and agreed.
func (u *Upload) putWhole(b []byte) error {
	b, err := u.pass(b, true) // no part was sent: b is the whole file
	if err != nil {
		return u.fail(u.stageFailure(err))
	}
	if err := u.vet(); err != nil {
		return err
	}
	out, err := u.cfg.Store.Put(u.ctx, store.PutRequest{
		Bucket:      u.s.Bucket(),
		Key:         u.key,
		Body:        b, // store sends its CRC32C in "aws" checksum mode
		Metadata:    u.objectMetadata(objfmt.WithMtime(u.sha256Metadata(), u.mtime)),
		IfNoneMatch: !u.overwrite,
	})
	if err != nil {
		return u.fail(u.commitFailure(fmt.Errorf("put %s: %w", u.key, err)))
	}
	u.stored = out
	return nil
}

func (u *Upload) complete() error {
	sortParts(u.done)
	out, err := u.cfg.Store.Complete(u.ctx, store.CompleteRequest{
		Bucket:      u.s.Bucket(),
		Key:         u.key,
		UploadID:    u.uploadID,
		Parts:       u.done,
		IfNoneMatch: !u.overwrite,
		CRC32C:      u.crc32c(), // S3 refuses to commit parts that do not add up to it
		Size:        u.storedBytes,
	})
	if err != nil {
		return u.fail(u.commitFailure(fmt.Errorf("complete upload %s: %w", u.key, err)))
	}
	u.stored = out
	u.tagObject()
	return nil
}

// commitFailure is the partner's answer to a failed commit. An exclusive
// upload refused by If-None-Match lost a race: another writer stored the
// file after the open, and that file stays.
func (u *Upload) commitFailure(err error) error {
	answer := u.s.Failed("upload", u.path, err, u.key)
	if u.exclusive && store.HTTPStatus(err) == http.StatusPreconditionFailed {
		if !u.s.CanSee() {
			return failure("upload failed: exclusive create, and the file cannot be overwritten; nothing was stored")
		}
		return failure("upload failed: the file was created by another upload meanwhile (exclusive create); nothing was stored")
	}
	return answer
}

func sortParts(parts []store.Part) {
	slices.SortFunc(parts, func(a, b store.Part) int { return int(a.Number - b.Number) })
}

// abort discards the parts of a failed upload; the previous object, if any, is
// untouched. It runs even when the session is gone.
func (u *Upload) abort() {
	u.stages.Abort()
	if u.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.s.Context()), abortTimeout)
	defer cancel()
	err := u.cfg.Store.Abort(ctx, u.s.Bucket(), u.key, u.uploadID)
	if err != nil && !errors.Is(err, context.Canceled) {
		u.log(slog.LevelError, "abort multipart upload failed", slog.String("path", u.s.Name(u.path)), slog.String("err", u.s.Cause(err, u.key)))
	}
}

// crc32c is the whole-object CRC32C of the stored bytes as S3 spells it
// (base64 of big-endian bytes), or "" when checksums are off.
func (u *Upload) crc32c() string {
	if u.crc == nil {
		return ""
	}
	return store.CRC32C(u.crc.Sum32())
}

// vet asks the stages, once every byte has gone through them, whether the
// upload may be committed; a refusal fails it (Close then aborts it, and the
// previous object stays).
func (u *Upload) vet() error {
	if err := u.stages.Finish(); err != nil {
		return u.fail(u.stageFailure(err))
	}
	u.noteGates()
	return nil
}

// noteGates takes what the gates found, once they agreed, for the object
// and the close record.
func (u *Upload) noteGates() {
	u.gateTags, u.gateNote = map[string]string{}, audit.Record{}
	for _, g := range u.gates {
		g.Note(&u.gateNote, u.gateTags)
	}
}

// stageFailure is the partner's answer to a stage that failed or refused
// the file: a Refusal's own text, written for the partner; any
// other cause goes to the log, and the partner reads a plain failure.
func (u *Upload) stageFailure(err error) error {
	var refusal *Refusal
	if errors.As(err, &refusal) {
		if refusal.Cause != nil {
			u.log(slog.LevelWarn, "upload refused", slog.String("path", u.s.Name(u.path)), slog.String("reason", refusal.Kind), slog.String("err", refusal.Cause.Error()))
		}
		return &Error{Msg: refusal.Reason, Reason: refusal.Kind}
	}
	u.log(slog.LevelError, "upload stage failed", slog.String("path", u.s.Name(u.path)), slog.String("err", err.Error()))
	return failure("upload failed: the file could not be processed; nothing was stored")
}

// sha256Metadata is the SHA-256 of the content, as user metadata, for a
// plaintext object; none under envelope encryption (see objfmt.MetaSHA256:
// the audit trail still records the plaintext SHA-256). What the gates
// found comes with it (a multipart upload has both as tags).
func (u *Upload) sha256Metadata() map[string]string {
	m := maps.Collect(maps.All(u.gateTags))
	if u.sealer == nil {
		m[objfmt.MetaSHA256] = u.sum.Hex()
	}
	return m
}

// objectMetadata is the user metadata of a new object: base (which may be
// nil) plus, under envelope encryption, the wrapped data key. Every write
// that creates an object takes its metadata from here.
func (u *Upload) objectMetadata(base map[string]string) map[string]string {
	if u.sealer == nil {
		return base
	}
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, u.sealer.meta)
	return m
}

// tagObject records, on the version just written, the SHA-256 of a
// multipart object (none under envelope encryption, see sha256Metadata) and
// the time set on a temporary file while its upload was pending. The object
// is already stored whole, so a failure here is logged, not reported: the
// audit trail has the hash, downloads of an untagged object are simply not
// checked, and the object shows its write time.
func (u *Upload) tagObject() {
	tags := maps.Collect(maps.All(u.gateTags)) // what the gates found
	if u.sealer == nil {
		tags[objfmt.MetaSHA256] = u.sum.Hex()
	}
	if u.final != "" && !u.mtime.IsZero() {
		tags[objfmt.MetaMtime] = objfmt.FormatMtime(u.mtime)
	}
	if len(tags) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.s.Context()), abortTimeout)
	defer cancel()
	err := u.cfg.Store.PutTags(ctx, u.s.Bucket(), u.key, u.stored.VersionID, tags)
	if err != nil {
		u.log(slog.LevelWarn, "storing the SHA-256 and time tags failed; downloads of this file will not be checked",
			slog.String("path", u.s.Name(u.path)), slog.String("err", u.s.Cause(err, u.key)))
		u.keepMtimeUntagged()
	}
}

// keepMtimeUntagged keeps the time of a completed temporary-name upload in
// its metadata when the store keeps no tags (the embedded one): a self-copy,
// the cost the tag avoids elsewhere.
func (u *Upload) keepMtimeUntagged() {
	if u.final == "" || u.mtime.IsZero() {
		return
	}
	if err := u.s.KeepMtime(u.key, u.mtime); err != nil {
		u.log(slog.LevelWarn, "mtime not kept", slog.String("path", u.s.Name(u.path)), slog.String("err", u.s.Cause(err, u.key)))
	}
}

// keepLateMtime keeps a time set after the multipart upload was created
// (lftp sets it just before CLOSE) with a metadata self-copy of the completed
// object, or, for a temporary name, by its rename that comes next (OpenSSH
// put -p of name.filepart). The upload has succeeded either way: a failure
// is logged, and the object shows its write time.
func (u *Upload) keepLateMtime() {
	u.mu.Lock()
	mtime, late := u.mtime, !u.mtime.IsZero() && !u.createdMeta
	u.mu.Unlock()
	if !late || u.s.HoldMtime(u.path, mtime) {
		return
	}
	if err := u.s.KeepMtime(u.key, mtime); err != nil {
		u.log(slog.LevelWarn, "mtime not kept", slog.String("path", u.s.Name(u.path)), slog.String("err", u.s.Cause(err, u.key)))
	}
}

// keepWholeParts trims an interrupted upload to its parts sent without a
// gap from the first, and rewinds its size, stages and CRC32C to their end.
// It reports false when no part reached S3, or a stage cannot go back there
// (it is no Resumer).
func (u *Upload) keepWholeParts() bool {
	sortParts(u.done)
	var kept []store.Part
	for i, p := range u.done {
		if p.Number != int32(i+1) {
			break
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return false
	}
	st := u.parts[int32(len(kept))]
	if err := u.rewind(st); err != nil {
		return false
	}
	u.done, u.size = kept, st.end
	return true
}

// keepPending files a closed upload under its temporary name, uncompleted,
// until its rename or resume.
func (u *Upload) keepPending() {
	u.pending = true
	u.ahead, u.aheadLen = nil, 0
	u.cfg.Pending.Put(u)
}

// Resumable reports whether new parts may follow: the last part sent was a
// whole part, not the short tail a CLOSE sends (under envelope encryption,
// the tail also carries the object's final chunk).
func (u *Upload) Resumable() bool { return !u.tailSent }

// Resume hands a pending upload to session s to write more parts, from the
// end of its last whole part. A CLOSE with nothing written leaves it
// pending as it was. It fails when the sealer has no nonce epoch left.
func (u *Upload) Resume(s Session) error {
	if err := u.sealer.resume(); err != nil {
		return failure("upload refused: this partial file was resumed too many times; upload it again from the start")
	}
	u.s = s
	u.ctx, u.cancel = context.WithCancel(s.Context())
	passed := make(chan struct{})
	close(passed)
	u.passed, u.stageErr = passed, nil
	u.inflight = make(chan struct{}, PartsInFlight)
	u.closed, u.failed, u.aborted, u.pending = false, nil, false, false
	u.keepIfUntouched, u.truncate, u.untouched = true, false, false
	u.untrack = u.cfg.Track(u.uploadID)
	return nil
}

// Commit is the rename of a pending upload onto its final name, by session
// s: one CompleteMultipartUpload, no copy; overwrite is the rename's rule,
// not the open's. rec gets what was stored. After a failure the upload is
// still pending as it was (the caller files it again).
func (u *Upload) Commit(s Session, overwrite bool, rec *audit.Record) error {
	u.overwrite, u.exclusive = overwrite, false
	u.s = s
	u.ctx, u.cancel = context.WithCancel(s.Context())
	defer u.cancel()
	err := u.stages.Finish() // an interrupted upload the stages cannot publish as it is
	if err != nil {
		err = u.stageFailure(err)
	} else {
		u.noteGates()
		err = u.complete()
	}
	if err != nil {
		u.failed = nil
		return err
	}
	rec.Bytes, rec.SHA256 = audit.Int(u.size), u.sum.Hex()
	rec.Scan, rec.Signer = u.gateNote.Scan, u.gateNote.Signer
	rec.ETag, rec.VersionID = trimETag(u.stored.ETag), u.stored.VersionID
	return nil
}

// Discard aborts a pending upload (removed, or opened again with truncate)
// for session s: its parts are deleted.
func (u *Upload) Discard(s Session) {
	u.s = s
	u.abort()
}

// abortStrays aborts the uploads of a retried CreateMultipartUpload whose
// answers were lost: S3 started them, but no one knows their ids. They are
// uploads of the same key begun since the first try, other than this one
// and any other this process has in flight. What it misses (a store whose
// clock runs behind), the orphan sweep finds later.
func (u *Upload) abortStrays() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.s.Context()), abortTimeout)
	defer cancel()
	out, err := u.cfg.Store.ListMultipartUploads(ctx, store.UploadsRequest{Bucket: u.s.Bucket(), Prefix: u.key})
	if err != nil {
		u.log(slog.LevelWarn, "list uploads after a retried create failed", slog.String("err", u.s.Cause(err, u.key)))
		return
	}
	for _, up := range out.Uploads {
		id := up.UploadID
		if up.Key != u.key || id == u.uploadID || u.cfg.InFlight(id) ||
			up.Initiated.IsZero() || up.Initiated.Before(u.retriedCreate.Add(-time.Second)) {
			continue
		}
		err := u.cfg.Store.Abort(ctx, u.s.Bucket(), u.key, id)
		if err != nil {
			u.log(slog.LevelWarn, "abort of a stray upload of a retried create failed", slog.String("upload_id", id), slog.String("err", u.s.Cause(err, u.key)))
			continue
		}
		u.log(slog.LevelInfo, "stray upload of a retried create aborted", slog.String("upload_id", id))
	}
}

// trimETag is an ETag without its quotes, as the trail records it.
func trimETag(s string) string { return strings.Trim(s, `"`) }
