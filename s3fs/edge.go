package s3fs

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/s3fs/upload"
)

// The edge is the one place errors leave s3fs for pkg/sftp, which sends an
// error's text to the partner verbatim. Every handler, and every file and
// listing a handler opens, answers through it: an error the code below
// made for partners (an *Error, a refused path) goes out as it is; any
// other (an S3 call's error someone forgot to map, a bug) is logged with
// its cause and replaced by a plain failure, so no SDK text, bucket or key
// ever reaches a client. The audit record, written below the edge, keeps
// the cause.
type edge struct{ h *handlers }

// net is err as the partner may see it. io.EOF passes: it ends reads and
// listings.
func (e edge) net(op, path string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if se := visible(err); se != nil {
		return se
	}
	e.h.log.LogAttrs(e.h.ctx, slog.LevelError, "unexpected error reached the SFTP edge; the partner was told only that the request failed",
		slog.String("op", op), slog.String("path", e.h.audit.Name(path)), slog.String("err", e.h.cause(err)))
	return failure(op + " failed: the server met an unexpected error")
}

// Fileread opens a download (FileReader).
func (e edge) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	d, err := e.h.Fileread(r)
	if err != nil {
		return nil, e.net("download", r.Filepath, err)
	}
	return edgeReader{d.(reader), e}, nil
}

// Filewrite opens an upload (FileWriter).
func (e edge) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	u, err := e.h.Filewrite(r)
	if err != nil {
		return nil, e.net("upload", r.Filepath, err)
	}
	return edgeWriter{u.(*upload.Upload), e}, nil
}

// Filecmd renames, removes, makes directories and sets times (FileCmder).
func (e edge) Filecmd(r *sftp.Request) error {
	return e.net(strings.ToLower(r.Method), r.Filepath, e.h.Filecmd(r))
}

// PosixRename is posix-rename@openssh.com (PosixRenameFileCmder).
func (e edge) PosixRename(r *sftp.Request) error {
	return e.net("rename", r.Filepath, e.h.PosixRename(r))
}

// StatVFS is statvfs@openssh.com (StatVFSFileCmder).
func (e edge) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	st, err := e.h.StatVFS(r)
	return st, e.net("statvfs", r.Filepath, err)
}

// SHA256 answers check-file (sftpd.FileHasher).
func (e edge) SHA256(p string) ([]byte, error) {
	sum, err := e.h.SHA256(p)
	return sum, e.net("checksum", p, err)
}

// Filelist lists a directory or stats a path (FileLister).
func (e edge) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	l, err := e.h.Filelist(r)
	if err != nil {
		return nil, e.net(strings.ToLower(r.Method), r.Filepath, err)
	}
	return edgeLister{l, e, r.Filepath}, nil
}

// Lstat is Stat: there are no symlinks (LstatFileLister).
func (e edge) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	l, err := e.h.Lstat(r)
	if err != nil {
		return nil, e.net("stat", r.Filepath, err)
	}
	return edgeLister{l, e, r.Filepath}, nil
}

// Readlink refuses: there are no symlinks (ReadlinkFileLister).
func (e edge) Readlink(p string) (string, error) {
	target, err := e.h.Readlink(p)
	return target, e.net("readlink", p, err)
}

// LookupUserName and LookupGroupName name the owner in long listings
// (NameLookupFileLister).
func (e edge) LookupUserName(uid string) string  { return e.h.LookupUserName(uid) }
func (e edge) LookupGroupName(gid string) string { return e.h.LookupGroupName(gid) }

// reader is an open download: a *download.Download, or one encrypted on
// the way out (*download.Encrypted).
type reader interface {
	io.ReaderAt
	Path() string
	Close() error
	TransferError(error)
}

// edgeReader is an open download, its errors through the edge.
type edgeReader struct {
	d reader
	e edge
}

func (r edgeReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.d.ReadAt(p, off)
	return n, r.e.net("download", r.d.Path(), err)
}

func (r edgeReader) Close() error            { return r.e.net("download", r.d.Path(), r.d.Close()) }
func (r edgeReader) TransferError(err error) { r.d.TransferError(err) }

// edgeWriter is an open upload, its errors through the edge; the commit's
// error comes at Close.
type edgeWriter struct {
	u *upload.Upload
	e edge
}

func (w edgeWriter) WriteAt(p []byte, off int64) (int, error) {
	n, err := w.u.WriteAt(p, off)
	return n, w.e.net("upload", w.u.Path(), err)
}

func (w edgeWriter) Close() error            { return w.e.net("upload", w.u.Path(), w.u.Close()) }
func (w edgeWriter) TransferError(err error) { w.u.TransferError(err) }

// edgeLister is a listing or a stat's answer, its errors through the edge.
type edgeLister struct {
	l    sftp.ListerAt
	e    edge
	path string
}

func (l edgeLister) ListAt(ls []os.FileInfo, off int64) (int, error) {
	n, err := l.l.ListAt(ls, off)
	return n, l.e.net("list", l.path, err)
}
