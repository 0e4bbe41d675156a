package boundary

import (
	"io"
	"os"
	"strings"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/s3fs/upload"
)

// Edge is the one place errors leave s3fs for pkg/sftp, which sends an
// error's text to the partner verbatim. Every handler, and every file and
// listing a handler opens, answers through it: an error the code below
// made for partners (an *Error, a refused path) goes out as it is; any
// other (an S3 call's error someone forgot to map, a bug) goes to
// Unexpected with its cause and is replaced by a plain failure, so no SDK
// text, bucket or key ever reaches a client. The audit record, written
// below the edge, keeps the cause.
type Edge struct {
	H          Handlers
	Unexpected func(op, path string, err error) // logs the cause of an error no partner may see
}

// Handlers is what the edge wraps: the pkg/sftp handlers of one session,
// with the optional interfaces s3fs implements.
type Handlers interface {
	sftp.FileReader
	sftp.FileWriter
	sftp.FileCmder
	sftp.FileLister
	PosixRename(r *sftp.Request) error
	StatVFS(r *sftp.Request) (*sftp.StatVFS, error)
	SHA256(p string) ([]byte, error)
	Lstat(r *sftp.Request) (sftp.ListerAt, error)
	Readlink(p string) (string, error)
	LookupUserName(uid string) string
	LookupGroupName(gid string) string
}

// Net is err as the partner may see it. io.EOF passes: it ends reads and
// listings.
func (e Edge) Net(op, path string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if se := Visible(err); se != nil {
		return se
	}
	e.Unexpected(op, path, err)
	return Failure(op + " failed: the server met an unexpected error")
}

// Fileread opens a download (FileReader).
func (e Edge) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	d, err := e.H.Fileread(r)
	if err != nil {
		return nil, e.Net("download", r.Filepath, err)
	}
	return Reader{d.(Download), e}, nil
}

// Filewrite opens an upload (FileWriter).
func (e Edge) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	u, err := e.H.Filewrite(r)
	if err != nil {
		return nil, e.Net("upload", r.Filepath, err)
	}
	return Writer{u.(*upload.Upload), e}, nil
}

// Filecmd renames, removes, makes directories and sets times (FileCmder).
func (e Edge) Filecmd(r *sftp.Request) error {
	return e.Net(strings.ToLower(r.Method), r.Filepath, e.H.Filecmd(r))
}

// PosixRename is posix-rename@openssh.com (PosixRenameFileCmder).
func (e Edge) PosixRename(r *sftp.Request) error {
	return e.Net("rename", r.Filepath, e.H.PosixRename(r))
}

// StatVFS is statvfs@openssh.com (StatVFSFileCmder).
func (e Edge) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	st, err := e.H.StatVFS(r)
	return st, e.Net("statvfs", r.Filepath, err)
}

// SHA256 answers check-file (sftpext.FileHasher).
func (e Edge) SHA256(p string) ([]byte, error) {
	sum, err := e.H.SHA256(p)
	return sum, e.Net("checksum", p, err)
}

// Filelist lists a directory or stats a path (FileLister).
func (e Edge) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	l, err := e.H.Filelist(r)
	if err != nil {
		return nil, e.Net(strings.ToLower(r.Method), r.Filepath, err)
	}
	return lister{l, e, r.Filepath}, nil
}

// Lstat is Stat: there are no symlinks (LstatFileLister).
func (e Edge) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	l, err := e.H.Lstat(r)
	if err != nil {
		return nil, e.Net("stat", r.Filepath, err)
	}
	return lister{l, e, r.Filepath}, nil
}

// Readlink refuses: there are no symlinks (ReadlinkFileLister).
func (e Edge) Readlink(p string) (string, error) {
	target, err := e.H.Readlink(p)
	return target, e.Net("readlink", p, err)
}

// LookupUserName and LookupGroupName name the owner in long listings
// (NameLookupFileLister).
func (e Edge) LookupUserName(uid string) string  { return e.H.LookupUserName(uid) }
func (e Edge) LookupGroupName(gid string) string { return e.H.LookupGroupName(gid) }

// Download is an open download: a *download.Download, or one encrypted on
// the way out (*download.Encrypted).
type Download interface {
	io.ReaderAt
	Path() string
	Close() error
	TransferError(error)
}

// Reader is an open download, its errors through the edge.
type Reader struct {
	D Download
	e Edge
}

func (r Reader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.D.ReadAt(p, off)
	return n, r.e.Net("download", r.D.Path(), err)
}

func (r Reader) Close() error            { return r.e.Net("download", r.D.Path(), r.D.Close()) }
func (r Reader) TransferError(err error) { r.D.TransferError(err) }

// Writer is an open upload, its errors through the edge; the commit's
// error comes at Close.
type Writer struct {
	U *upload.Upload
	e Edge
}

func (w Writer) WriteAt(p []byte, off int64) (int, error) {
	n, err := w.U.WriteAt(p, off)
	return n, w.e.Net("upload", w.U.Path(), err)
}

func (w Writer) Close() error            { return w.e.Net("upload", w.U.Path(), w.U.Close()) }
func (w Writer) TransferError(err error) { w.U.TransferError(err) }

// lister is a listing or a stat's answer, its errors through the edge.
type lister struct {
	l    sftp.ListerAt
	e    Edge
	path string
}

func (l lister) ListAt(ls []os.FileInfo, off int64) (int, error) {
	n, err := l.l.ListAt(ls, off)
	return n, l.e.Net("list", l.path, err)
}
