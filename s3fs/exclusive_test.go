package s3fs

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
)

// wantStatus fails unless err is an SFTP status with code and a message
// containing text.
func wantStatus(t *testing.T, what string, err error, code sftp.StatusError, text string) {
	t.Helper()
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != code.FxCode() || !strings.Contains(err.Error(), text) {
		t.Errorf("%s = %v; want status %d with %q", what, err, code.FxCode(), text)
	}
}

var (
	statusFailure = sftp.StatusError{Code: uint32(sftp.ErrSSHFxFailure)}
	statusDenied  = sftp.StatusError{Code: uint32(sftp.ErrSSHFxPermissionDenied)}
)

// writeWith opens path with flags, writes data and closes, returning the
// open's error or the close's.
func writeWith(c *sftp.Client, path string, flags int, data []byte) (openErr, closeErr error) {
	f, err := c.OpenFile(path, flags)
	if err != nil {
		return err, nil
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		f.Close()
		return nil, err
	}
	return nil, f.Close()
}

const exclFlags = os.O_WRONLY | os.O_CREATE | os.O_EXCL | os.O_TRUNC // paramiko open(…, "wx")

// TestUpload_ExclusiveCreate: an open with CREAT|EXCL of an existing file
// fails with SSH_FX_FAILURE and leaves it as it was; of a new name it
// creates the file; and when another writer stores the file between the
// open and the close, the close fails and the other writer's file stays.
func TestUpload_ExclusiveCreate(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "x/", auth.AllPerms)
	other := e.session(t, "x/", auth.AllPerms)

	e.s3.Put(t, "x/exists.txt", []byte("first"))
	tr, as := newTrail(t)
	audited := e.auditedSession(t, "x/", auth.AllPerms, as)
	openErr, _ := writeWith(audited, "/exists.txt", exclFlags, []byte("second"))
	wantStatus(t, "exclusive open of an existing file", openErr, statusFailure, "file exists")
	if recs := tr.records(t); len(recs) != 1 || recs[0].Result != "denied" || recs[0].Reason != "permission" || recs[0].Op != "exclusive create" {
		t.Errorf("audit records of the refused exclusive open = %+v; want one, denied for permission, op exclusive create", recs)
	}
	if got, _ := e.s3.Get(t, "x/exists.txt"); string(got) != "first" {
		t.Errorf("exists.txt holds %q after a refused exclusive create; want first", got)
	}

	if openErr, closeErr := writeWith(c, "/new.txt", exclFlags, []byte("created")); openErr != nil || closeErr != nil {
		t.Fatalf("exclusive create of a new name: open %v, close %v", openErr, closeErr)
	}
	if got, _ := e.s3.Get(t, "x/new.txt"); string(got) != "created" {
		t.Errorf("new.txt holds %q; want created", got)
	}

	for _, tc := range []struct {
		name string
		size int
	}{{"race-put", 1000}, {"race-multipart", minPartSize + 7}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.size > minPartSize && embeddedStore() {
				t.Skip("the embedded store ignores If-None-Match on CompleteMultipartUpload (versitygw and S3 honour it)")
			}
			name := "/" + tc.name + ".bin"
			f, err := c.OpenFile(name, exclFlags)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.ReadFrom(bytes.NewReader(randBytes(tc.size))); err != nil {
				t.Fatal(err)
			}
			theirs := randBytes(500)
			if err := writeFile(t, other, name, theirs); err != nil {
				t.Fatalf("the other session's upload: %v", err)
			}
			wantStatus(t, "close of an exclusive create that lost the race", f.Close(), statusFailure, "created by another upload meanwhile")
			if got, _ := e.s3.Get(t, "x"+name); !bytes.Equal(got, theirs) {
				t.Errorf("%s holds %d bytes; want the other writer's %d", name, len(got), len(theirs))
			}
		})
	}

	t.Run("pending-temporary-name", func(t *testing.T) {
		if openErr, closeErr := writeWith(c, "/t.bin.filepart", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, randBytes(minPartSize+1)); openErr != nil || closeErr != nil {
			t.Fatalf("upload of the temporary file: open %v, close %v", openErr, closeErr)
		}
		openErr, _ := writeWith(c, "/t.bin.filepart", exclFlags, []byte("x"))
		wantStatus(t, "exclusive open of a pending temporary file", openErr, statusFailure, "file exists")
		if fi, err := c.Stat("/t.bin.filepart"); err != nil || fi.Size() != minPartSize+1 {
			t.Errorf("stat of the pending file after the refused open = %v, %v; want its %d bytes kept", fi, err, minPartSize+1)
		}
	})

	t.Run("write-only", func(t *testing.T) { // learns no more than stat tells it
		drop := e.session(t, "x/", auth.PermWrite|auth.PermOverwrite)
		openErr, _ := writeWith(drop, "/exists.txt", exclFlags, []byte("second"))
		wantStatus(t, "exclusive open by a write-only user", openErr, statusFailure, "cannot be overwritten")
		if strings.Contains(openErr.Error(), "exists") {
			t.Errorf("refusal to a user who cannot list says the file exists: %v", openErr)
		}
	})
}

// TestUpload_AppendCreates: an append-mode open of a new name (paramiko
// open(…, "a")) is a plain create; of an existing file it is refused and the
// file stays as it was.
func TestUpload_AppendCreates(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "a/", auth.AllPerms)
	const appendFlags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if openErr, closeErr := writeWith(c, "/log.txt", appendFlags, []byte("line 1\n")); openErr != nil || closeErr != nil {
		t.Fatalf("append-mode open of a new name: open %v, close %v", openErr, closeErr)
	}
	if got, _ := e.s3.Get(t, "a/log.txt"); string(got) != "line 1\n" {
		t.Errorf("log.txt holds %q; want the line written", got)
	}
	openErr, _ := writeWith(c, "/log.txt", appendFlags, []byte("line 2\n"))
	wantStatus(t, "append-mode open of an existing file", openErr, sftp.StatusError{Code: uint32(sftp.ErrSSHFxOpUnsupported)}, "appending to a file is not supported")
	if got, _ := e.s3.Get(t, "a/log.txt"); string(got) != "line 1\n" {
		t.Errorf("log.txt holds %q after a refused append; want it unchanged", got)
	}
}
