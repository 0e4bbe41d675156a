package sftpd

import (
	"io"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
)

type tenantRef = *auth.Tenant

// trackTransfers wraps the file handlers so the connection knows how many
// files are open (shutdown lets those finish and closes idle sessions at once)
// and when a call on one is still running (the idle timeout waits for it).
func trackTransfers(h sftp.Handlers, c *conn) sftp.Handlers {
	h.FileGet = readTracker{h.FileGet, c}
	h.FilePut = writeTracker{h.FilePut, c}
	return h
}

type readTracker struct {
	sftp.FileReader
	c *conn
}

func (t readTracker) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	if err := t.c.transferStarted(); err != nil {
		t.c.refusedOpen("read", r.Filepath, err)
		return nil, err
	}
	defer t.c.working()()
	rd, err := t.FileReader.Fileread(r)
	if err != nil {
		t.c.transferEnded()
		return nil, err
	}
	return &trackedReader{ReaderAt: rd, c: t.c}, nil
}

type writeTracker struct {
	sftp.FileWriter
	c *conn
}

func (t writeTracker) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	if err := t.c.transferStarted(); err != nil {
		t.c.refusedOpen("write", r.Filepath, err)
		return nil, err
	}
	defer t.c.working()()
	w, err := t.FileWriter.Filewrite(r)
	if err != nil {
		t.c.transferEnded()
		return nil, err
	}
	return &trackedWriter{WriterAt: w, c: t.c}, nil
}

// PosixRename and StatVFS live on FileCmd; nothing else needs forwarding here.

type trackedReader struct {
	io.ReaderAt
	c *conn
}

func (r *trackedReader) ReadAt(p []byte, off int64) (int, error) {
	defer r.c.working()()
	return r.ReaderAt.ReadAt(p, off)
}

func (r *trackedReader) Close() error {
	defer r.c.transferEnded()
	defer r.c.working()()
	return closeIfCloser(r.ReaderAt)
}

func (r *trackedReader) TransferError(err error) { transferError(r.ReaderAt, err) }

type trackedWriter struct {
	io.WriterAt
	c *conn
}

func (w *trackedWriter) WriteAt(p []byte, off int64) (int, error) {
	defer w.c.working()()
	return w.WriterAt.WriteAt(p, off)
}

func (w *trackedWriter) Close() error {
	defer w.c.transferEnded()
	defer w.c.working()()
	return closeIfCloser(w.WriterAt)
}

func (w *trackedWriter) TransferError(err error) { transferError(w.WriterAt, err) }

func closeIfCloser(v any) error {
	if c, ok := v.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func transferError(v any, err error) {
	if t, ok := v.(sftp.TransferError); ok {
		t.TransferError(err)
	}
}
