// Package boundary is what a partner may see of an error, and what the
// server log may see of its cause. pkg/sftp sends an error's text to the
// client verbatim, so every error that leaves s3fs is an *Error built here
// with a plain message, or is replaced by a generic failure at the Edge;
// the cause, which may hold S3's words, buckets and keys, goes to the log
// through Cause, which hides names when the audit trail hashes them.
// Storage words a failed storage request for the partner, and Outcome the
// audit record of what the partner was told. It holds no S3 calls (it reads
// S3's errors through store's readers) and never imports s3fs.
package boundary

import (
	"errors"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Error is what a partner sees: an SFTP status code and a plain message.
// The message never carries S3 text, bucket names or other tenants'
// prefixes; the cause goes to the log.
type Error struct {
	Code    error  // one of sftp.ErrSSHFx*, found by pkg/sftp with errors.As
	Msg     string // sent to the partner as it is
	Refusal string // why the server refused the request, for the audit trail; "" when it tried and failed
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Code }

// Refusal categories, the audit record's reason for a denied request.
const (
	RefusedPermission  = "permission"  // the user lacks the permission, or the target exists
	RefusedJail        = "jail"        // the path is not one the jail accepts
	RefusedUnsupported = "unsupported" // S3 or this server cannot do it
	RefusedAudit       = "audit"       // the audit trail cannot be written
)

func Denied(msg string) error   { return &Error{sftp.ErrSSHFxPermissionDenied, msg, RefusedPermission} }
func NotFound(msg string) error { return &Error{sftp.ErrSSHFxNoSuchFile, msg, ""} }
func Failure(msg string) error  { return &Error{sftp.ErrSSHFxFailure, msg, ""} }

// Conflict refuses a request because a file has the name: SSH_FX_FAILURE,
// as OpenSSH answers an exclusive create or a rename onto an existing file,
// and recorded as a refusal.
func Conflict(msg string) error { return &Error{sftp.ErrSSHFxFailure, msg, RefusedPermission} }
func Unsupported(msg string) error {
	return &Error{sftp.ErrSSHFxOpUnsupported, msg, RefusedUnsupported}
}

// NotPermitted refuses op ("upload") for want of the permission p, in the
// partner's words: "upload refused: uploading is not permitted for this user".
func NotPermitted(op string, p auth.Perms) error {
	word := map[auth.Perms]string{auth.PermList: "listing", auth.PermRead: "downloading", auth.PermWrite: "uploading",
		auth.PermOverwrite: "overwriting an existing file", auth.PermDelete: "deleting", auth.PermRename: "renaming",
		auth.PermMkdir: "creating directories"}[p]
	if word == "" {
		word = p.String()
	}
	return Denied(op + " refused: " + word + " is not permitted for this user")
}

// Visible is err as the partner may see it: an *Error as it is, a path the
// jail refused (a *vfs.PathError) as a refusal, a change the user's tree
// forbids (a *vfs.TreeError or *vfs.MoveError: the virtual "/", a folder's
// root, a move between folders) as permission denied, an upload's own failure
// (an *upload.Error) as a failure, or nil for any other error, whose text
// may carry S3's words, a bucket or a key. The Edge sends a generic
// failure in its place.
func Visible(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var pe *vfs.PathError
	if errors.As(err, &pe) {
		return &Error{sftp.ErrSSHFxFailure, pe.Error(), RefusedJail}
	}
	var te *vfs.TreeError
	if errors.As(err, &te) {
		return &Error{sftp.ErrSSHFxPermissionDenied, te.Error(), RefusedPermission}
	}
	var me *vfs.MoveError
	if errors.As(err, &me) {
		return &Error{sftp.ErrSSHFxPermissionDenied, me.Error(), RefusedPermission}
	}
	if errors.Is(err, download.ErrEncryptedSeek) {
		return &Error{sftp.ErrSSHFxOpUnsupported, err.Error(), RefusedUnsupported}
	}
	var ue *upload.Error
	if errors.As(err, &ue) {
		return &Error{sftp.ErrSSHFxFailure, ue.Msg, ue.Reason} // a gate's refusal: its reason ("malware")
	}
	return nil
}

// ErrAuditDown refuses file operations while on_failure = "deny" and the
// audit trail cannot be written.
var ErrAuditDown = &Error{sftp.ErrSSHFxFailure,
	"refused: the audit log cannot be written, so file operations are suspended; try again later", RefusedAudit}

// ErrNoSuchFile is the status for a path that does not exist, with the
// text OpenSSH's sftp-server sends.
var ErrNoSuchFile = NotFound("No such file")

// Overwrite answers a write onto an existing file the user may not replace;
// what names it ("file", "target"). To a user who may not learn which files
// exist (no list, no read), it never says that one does.
func Overwrite(canSee bool, op, what string) error {
	if !canSee {
		return Denied(op + " refused: the " + what + " cannot be overwritten by this user")
	}
	return Denied(op + " refused: " + what + " exists and overwrite is not permitted for this user")
}

// Exclusive answers an exclusive create (SSH_FXF_EXCL) of an existing file
// with SSH_FX_FAILURE, as OpenSSH's sftp-server does.
func Exclusive(canSee bool) error {
	if !canSee {
		return Conflict("upload refused: exclusive create, and the file cannot be overwritten")
	}
	return Conflict("upload refused: file exists (exclusive create)")
}
