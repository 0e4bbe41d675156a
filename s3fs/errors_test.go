package s3fs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"testing"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
)

// TestErrors_MissingFile: a missing file is NO_SUCH_FILE with OpenSSH's
// text, and a client asking for one is no fault in the server log.
func TestErrors_MissingFile(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil)) // info and above, as cmd logs
	c := e.loggedSession(t, "p/", auth.AllPerms, nil, log)
	_, statErr := c.Stat("/missing.txt")
	_, openErr := c.Open("/missing.txt")
	renameErr := c.Rename("/missing.txt", "/other.txt")
	for what, err := range map[string]error{"stat": statErr, "open": openErr, "rename": renameErr} {
		if !errors.Is(err, fs.ErrNotExist) { // pkg/sftp's client turns NO_SUCH_FILE into fs.ErrNotExist
			t.Errorf("%s of a missing file = %v; want NO_SUCH_FILE", what, err)
		}
	}
	h := e.fs.Handlers(context.Background(), &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: "p/", Perms: auth.AllPerms}, log, nil)
	if _, err := h.FileList.Filelist(sftp.NewRequest("Stat", "/missing.txt")); err == nil || err.Error() != "No such file" {
		t.Errorf("the text sent for a missing file = %v; want OpenSSH's \"No such file\"", err)
	}
	if bytes.Contains(logs.Bytes(), []byte("level=ERROR")) || bytes.Contains(logs.Bytes(), []byte("level=WARN")) {
		t.Errorf("a missing file is logged as a fault:\n%s", logs.String())
	}
}
