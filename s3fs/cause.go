package s3fs

import "github.com/s3sftpd/s3sftpd/s3fs/boundary"

// cause is err's text for the server log (see boundary.Cause): with audit
// paths = "hmac" the names in it are hashed as the trail writes them.
func (h *handlers) cause(err error, keys ...string) string {
	if !h.audit.HashesNames() {
		return err.Error()
	}
	return boundary.Cause(err, h.audit.Name, keys...)
}

// Cause is err's text for a log line of no session (the orphan sweep that
// ops runs): its own wrapping names no key, but the URLs of network errors
// do, so with hidden names (audit paths = "hmac") they are cut to the host.
func (fs *FS) Cause(err error) string {
	if !fs.hideNames {
		return err.Error()
	}
	return boundary.HideURLs(err)
}
