// Package events tells the hospital's systems what happened to the files:
// it derives one JSON event per committed or failed upload, whole download,
// delete, rename, mkdir, pickup and retention record from the audit trail,
// and delivers each to every configured sink (a signed webhook, SNS) at
// least once, in trail order, from a cursor kept beside the trail.
//
// The trail is the source because it is durable and written before an
// upload is acknowledged: what the trail holds is delivered even across a
// kill -9 (docs/events.md). The package reads the trail's files and never
// writes them; it calls no S3, holds no file content, and writes only its
// own cursor files.
package events

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/s3sftpd/s3sftpd/audit"
)

// The event types, as the "type" field and a sink's types list name them.
const (
	TypeUpload          = "upload"           // a file was committed
	TypeUploadFailed    = "upload_failed"    // an upload was refused or aborted, or did not commit
	TypeDownload        = "download"         // a whole file was sent
	TypeDelete          = "delete"           // a partner removed a file
	TypeRename          = "rename"           // a file or directory was renamed
	TypeMkdir           = "mkdir"            // a directory was created
	TypePickupDelete    = "pickup_delete"    // a picked-up file was deleted (delete_after_download)
	TypeRetentionDelete = "retention_delete" // a file past its folder's retention was deleted
	TypeNotPickedUp     = "not_picked_up"    // a file has waited past not_picked_up_after
)

// Types lists every event type, in the order docs/events.md gives them.
func Types() []string {
	return []string{TypeUpload, TypeUploadFailed, TypeDownload, TypeDelete, TypeRename, TypeMkdir,
		TypePickupDelete, TypeRetentionDelete, TypeNotPickedUp}
}

// Event is one document a sink receives. Names, paths and keys are as the
// trail holds them: with [audit] paths = "hmac" they are the same keyed
// hashes. Fields without a value are left out, except those every receiver
// reads (id, type, time, user, path, result).
type Event struct {
	ID        string     `json:"id"`   // hex SHA-256 of the trail line: stable across retries and restarts
	Type      string     `json:"type"` // one of Types
	Time      audit.Time `json:"time"` // when the trail recorded it
	User      string     `json:"user"` // the login; "" for a server's own record (retention)
	KeyFP     string     `json:"key_fp,omitempty"`
	Remote    string     `json:"remote,omitempty"`  // the client's address, as the trail has it
	Session   string     `json:"session,omitempty"` // the trail's session id
	Path      string     `json:"path"`              // the SFTP path
	Folder    string     `json:"folder,omitempty"`  // the folder of Path; "" in the home
	Bucket    string     `json:"bucket,omitempty"`
	Key       string     `json:"key,omitempty"`
	VersionID string     `json:"version_id,omitempty"`
	Size      *int64     `json:"size,omitempty"`   // bytes stored, sent, or received before a failure
	SHA256    string     `json:"sha256,omitempty"` // hex, of the whole file: for upload and download
	Result    string     `json:"result"`           // ok, denied, aborted, error
	Reason    string     `json:"reason,omitempty"` // what the client was told, for a failure

	// A rename's target (a cross-folder move may change bucket and folder).
	TargetPath   string `json:"target_path,omitempty"`
	TargetKey    string `json:"target_key,omitempty"`
	TargetFolder string `json:"target_folder,omitempty"`
	TargetBucket string `json:"target_bucket,omitempty"`
}

// ID is the id of the event a trail line gives: the hex SHA-256 of the line
// as written (without its newline). The line holds the hash of the one
// before it, the session id and the time, so two gateways sharing a bucket
// never give the same id.
func ID(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// eventType is the table from trail records to events: the type r stands
// for, or "" when it is not an event.
func eventType(r *audit.Record) string {
	ok := r.Result == audit.ResultOK
	switch {
	case r.Event == audit.EventClose && r.Mode == "write" && ok:
		if r.SHA256 != "" { // committed; a pending upload or an untouched file has none
			return TypeUpload
		}
	case r.Event == audit.EventClose && r.Mode == "write", r.Event == audit.EventOpen && r.Mode == "write" && !ok:
		return TypeUploadFailed
	case r.Event == audit.EventClose && r.Mode == "read" && ok && r.SHA256 != "": // the whole file was sent
		return TypeDownload
	case r.Event == audit.EventRemove && ok:
		return TypeDelete
	case r.Event == audit.EventRename && ok && r.SHA256 != "": // a pending upload committed onto its final name
		return TypeUpload
	case r.Event == audit.EventRename && ok:
		return TypeRename
	case r.Event == audit.EventMkdir && ok:
		return TypeMkdir
	case (r.Event == TypePickupDelete || r.Event == TypeRetentionDelete || r.Event == TypeNotPickedUp) && ok:
		return r.Event // the lifecycle's records (s3fs/pickup names them); a skipped or failed delete stays in the trail
	}
	return ""
}

// derive makes the event of r, written as line, or reports that r is none.
// The session's login and address come from who.
func derive(line []byte, r *audit.Record, who login) (Event, bool) {
	typ := eventType(r)
	if typ == "" {
		return Event{}, false
	}
	e := Event{ID: ID(line), Type: typ, Time: r.Time, User: r.User, KeyFP: who.KeyFP, Remote: who.Remote, Session: r.Session,
		Path: r.Path, Folder: r.Folder, Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionID, Size: r.Bytes, SHA256: r.SHA256,
		Result: r.Result, Reason: reason(r)}
	if e.User == "" {
		e.User = who.User
	}
	switch {
	case r.Event == audit.EventRename && typ == TypeUpload: // the upload landed under the target
		e.Path, e.Key, e.Folder = r.Target, r.TargetKey, r.TargetFolder
		if r.TargetBucket != "" {
			e.Bucket = r.TargetBucket
		}
	case typ == TypeRename:
		e.TargetPath, e.TargetKey, e.TargetFolder, e.TargetBucket = r.Target, r.TargetKey, r.TargetFolder, r.TargetBucket
	}
	if e.Result == "" {
		e.Result = audit.ResultOK
	}
	return e, true
}

// reason is what the client was told: the record's message, else its
// refusal category.
func reason(r *audit.Record) string {
	if r.Result == audit.ResultOK {
		return r.Reason // a server record's note (retention), if any
	}
	return strings.TrimSpace(cmp.Or(r.Error, r.Reason))
}

// login is what a session's connect and auth records say about it.
type login struct {
	User   string `json:"user,omitempty"`
	KeyFP  string `json:"key_fp,omitempty"`
	Remote string `json:"remote,omitempty"`
	Seq    uint64 `json:"seq"` // of its connect record: the oldest goes first when the table is full
}

// maxSessions bounds the table of open sessions (and so the cursor file):
// far more than a gateway holds open at once.
const maxSessions = 4096

// sessions is the table of the trail's open sessions as of the cursor:
// file records name only the session, events also its key and address.
type sessions map[string]login

// note updates the table with r, the record at seq. It is applied after
// the record's event is derived, so a disconnect still names its session.
func (s sessions) note(r *audit.Record, seq uint64) {
	switch r.Event {
	case audit.EventServerStart: // a restart ended every session of the trail
		clear(s)
	case audit.EventConnect:
		if r.Result != audit.ResultOK || r.Session == "" {
			return
		}
		if len(s) >= maxSessions {
			s.dropOldest()
		}
		s[r.Session] = login{Remote: r.Remote, Seq: seq}
	case audit.EventAuth:
		l, open := s[r.Session]
		if !open || r.Result != audit.ResultOK {
			return
		}
		l.User = r.User
		if r.KeyFP != "" { // a key then a password: the key stays the one named
			l.KeyFP = r.KeyFP
		}
		s[r.Session] = l
	case audit.EventDisconnect:
		delete(s, r.Session)
	}
}

// dropOldest forgets the session connected longest ago (one left open by a
// crash that no server_start followed).
func (s sessions) dropOldest() {
	oldest, at := "", ^uint64(0)
	for id, l := range s {
		if l.Seq < at {
			oldest, at = id, l.Seq
		}
	}
	delete(s, oldest)
}

// CheckTypes says which listed type is not an event type.
func CheckTypes(types []string) error {
	known := Types()
	for _, t := range types {
		if !slices.Contains(known, t) {
			return fmt.Errorf("unknown event type %q; the types are %s", t, strings.Join(known, ", "))
		}
	}
	return nil
}
