// Package attr is the file attributes s3fs answers clients with (stat,
// listings, statvfs) and the ones it is sent (setstat, described for the
// audit trail), in pkg/sftp's types. It holds no state and calls nothing:
// what a file's size or time is, s3fs decides.
package attr

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
)

// Info is an os.FileInfo for an object or a directory. Path is the client
// path (or a listing's entry name); its name is the last segment.
type Info struct {
	Path  string
	Bytes int64
	Mtime time.Time
	Dir   bool
}

func (fi Info) Name() string       { return path.Base(fi.Path) }
func (fi Info) Size() int64        { return fi.Bytes }
func (fi Info) ModTime() time.Time { return fi.Mtime }
func (fi Info) IsDir() bool        { return fi.Dir }
func (fi Info) Sys() any           { return nil }

// Uid and Gid give clients an owner to show and to keep (OpenSSH's chown
// reads it first); ls -l names it through the handlers' LookupUserName.
func (fi Info) Uid() uint32 { return ownerID }
func (fi Info) Gid() uint32 { return ownerID }

const ownerID = 1000

// Mode is a directory's or a file's, as a partner's tools expect.
func (fi Info) Mode() fs.FileMode {
	if fi.Dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// List answers a stat with one entry, or lists a few fixed entries (the
// folders of a user's tree).
type List []os.FileInfo

// ListAt returns entries from offset off.
func (l List) ListAt(ls []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(ls, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}

// Dirs lists names as directories with the time mtime.
func Dirs(names []string, mtime time.Time) List {
	l := List{}
	for _, name := range names {
		l = append(l, Info{Path: name, Dir: true, Mtime: mtime})
	}
	return l
}

// StatVFS reports a large, mostly free filesystem so clients don't refuse uploads.
func StatVFS() *sftp.StatVFS {
	const blocks = 1 << 40 // × 4 KiB = 4 PiB
	return &sftp.StatVFS{
		Bsize: 4096, Frsize: 4096, Blocks: blocks, Bfree: blocks, Bavail: blocks,
		Files: 1 << 40, Ffree: 1 << 40, Favail: 1 << 40, Namemax: 255,
	}
}

// SetstatOp describes what a SETSTAT asked for, for the audit trail.
func SetstatOp(flags sftp.FileAttrFlags, attrs *sftp.FileStat) string {
	var parts []string
	if flags.Size {
		parts = append(parts, fmt.Sprintf("size=%d", attrs.Size))
	}
	if flags.Permissions {
		parts = append(parts, fmt.Sprintf("mode=%04o", attrs.Mode&0o7777))
	}
	if flags.UidGid {
		parts = append(parts, fmt.Sprintf("owner=%d:%d", attrs.UID, attrs.GID))
	}
	if flags.Acmodtime {
		parts = append(parts, fmt.Sprintf("mtime=%d", attrs.Mtime))
	}
	return "setstat " + strings.Join(parts, " ")
}

// Upload describes an upload open or pending as name.
func Upload(name string, u upload.Info) Info {
	return Info{Path: name, Bytes: u.Size, Mtime: u.Mtime}
}
