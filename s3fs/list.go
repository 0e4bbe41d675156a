package s3fs

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// fileInfo is an os.FileInfo for an object or a directory.
type fileInfo struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
}

func (fi fileInfo) Name() string       { return path.Base(fi.name) }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) ModTime() time.Time { return fi.mtime }
func (fi fileInfo) IsDir() bool        { return fi.dir }
func (fi fileInfo) Sys() any           { return nil }

// Uid and Gid give clients an owner to show and to keep (OpenSSH's chown
// reads it first); ls -l names it through LookupUserName.
func (fi fileInfo) Uid() uint32 { return ownerID }
func (fi fileInfo) Gid() uint32 { return ownerID }

const ownerID = 1000

func (fi fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// listerat answers a stat with one entry.
// uploadInfo describes an upload open or pending as name.
func uploadInfo(name string, u upload.Info) fileInfo {
	return fileInfo{name: name, size: u.Size, mtime: u.Mtime}
}

type listerat []os.FileInfo

func (l listerat) ListAt(ls []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(ls, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}

// Filelist answers opendir (List) and stat/lstat (Stat). A listing is
// recorded in the audit trail, since names can be PHI; a stat is recorded
// only when refused, as clients stat every path they touch.
func (h *handlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	switch r.Method {
	case "List":
		l, err := h.list(r.Filepath)
		if aerr := h.record(audit.Record{Event: audit.EventList, Path: r.Filepath}, err); aerr != nil && err == nil {
			return nil, boundary.ErrAuditDown
		}
		return l, err
	case "Stat":
		fi, err := h.stat(r.Filepath)
		if _, reason, _ := boundary.Outcome(err); reason != "" {
			h.record(audit.Record{Event: audit.EventRefused, Op: "stat", Path: r.Filepath}, err)
		}
		if err != nil {
			return nil, err
		}
		return listerat{fi}, nil
	}
	err := boundary.Unsupported(strings.ToLower(r.Method) + " is not supported")
	h.record(audit.Record{Event: audit.EventRefused, Op: strings.ToLower(r.Method), Path: r.Filepath}, err)
	return nil, err
}

// Lstat is Stat: there are no symlinks.
func (h *handlers) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	r.Method = "Stat"
	return h.Filelist(r)
}

// Readlink refuses: there are no symlinks.
func (h *handlers) Readlink(p string) (string, error) {
	err := boundary.Unsupported("symbolic links are not supported")
	h.record(audit.Record{Event: audit.EventRefused, Op: "readlink", Path: p}, err)
	return "", err
}

// stat describes a path: an upload this session has open, an object, or a
// directory (a marker object or a common prefix). A user without list or read
// sees only directories and the files it uploaded in this session.
func (h *handlers) stat(p string) (os.FileInfo, error) {
	key, err := h.home.Key(p)
	if err != nil {
		return nil, err
	}
	if h.home.IsRoot(key) { // the home has no marker of its own: the time it was looked at
		return fileInfo{name: "/", dir: true, mtime: time.Now().Truncate(time.Second)}, nil
	}
	if u := h.openUpload(p); u != nil {
		return uploadInfo(p, u.Info()), nil
	}
	if info, ok := h.fs.pending.Info(h.home.Bucket, key); ok {
		return uploadInfo(p, info), nil
	}
	canSee := h.canSee()
	if !canSee {
		h.mu.Lock()
		fi, ok := h.uploaded[p]
		h.mu.Unlock()
		if ok {
			return fi, nil
		}
	}
	if canSee {
		head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: h.home.Bucket, Key: key})
		if err == nil {
			fi := fileInfo{name: p, size: sealing.HeadSize(head), mtime: h.objectMtime(key, head, head.LastModified)}
			if t, ok := h.heldMtime(p); ok {
				fi.mtime = t
			}
			return fi, nil
		}
		if !isNotFound(err) {
			return nil, h.s3Failure("stat", p, err)
		}
	}
	if fi, ok := h.dirInfo(p, key); ok {
		return fi, nil
	}
	if canSee {
		h.mu.Lock()
		h.absent = absentPath{p, time.Now()}
		h.mu.Unlock()
	}
	return nil, boundary.ErrNoSuchFile
}

// isDir reports whether anything lives under key+"/". Errors count as no.
func (h *handlers) isDir(key string) bool {
	out, err := h.fs.obj.List(h.ctx, store.ListRequest{Bucket: h.home.Bucket, Prefix: key + "/", MaxKeys: 1})
	return err == nil && (len(out.Objects) > 0 || len(out.Prefixes) > 0)
}

// list opens a directory listing that pages through S3 as the client reads.
func (h *handlers) list(p string) (sftp.ListerAt, error) {
	if err := h.auditReady(); err != nil {
		return nil, err
	}
	if err := h.require(auth.PermList, "list", p); err != nil {
		return nil, err
	}
	prefix, err := h.home.DirKey(p)
	if err != nil {
		return nil, err
	}
	l := &lister{h: h, path: p, prefix: prefix}
	if err := l.fetch(); err != nil {
		l.Close()
		return nil, err
	}
	if !h.home.IsRoot(prefix) && !l.found {
		if ok, _ := h.fileExists(p, strings.TrimSuffix(prefix, "/")); ok {
			return nil, boundary.Failure("list refused: not a directory")
		}
		return nil, boundary.ErrNoSuchFile
	}
	return l, nil
}

// lister streams one directory: one ListObjectsV2 page (1000 keys) at a time,
// so a huge prefix is never held in memory.
type lister struct {
	h      *handlers
	path   string
	prefix string
	page   []os.FileInfo // entries fetched and not yet returned
	served int64         // offset of page[0]
	token  string        // of the next page; "" before the first
	last   bool
	found  bool             // the first page had a key: the directory exists, even if only its marker
	times  *keptime.Listing // the folder's kept times, from its first page on

	ahead  chan listed        // the next page, asked for while the client reads this one
	cancel context.CancelFunc // of the request for it
	wg     sync.WaitGroup
}

// listed is a ListObjectsV2 page as it came back.
type listed struct {
	out store.ListPage
	err error
}

// listAhead asks for the page from token while the client reads the page
// before, so a long listing waits on S3 and on the client at the same time,
// not one after the other. At most one page is held ahead.
func (l *lister) listAhead(token string) {
	ctx, cancel := context.WithCancel(l.h.ctx)
	l.ahead, l.cancel = make(chan listed, 1), cancel
	l.wg.Go(func() {
		out, err := l.h.fs.obj.List(ctx, store.ListRequest{Bucket: l.h.home.Bucket, Prefix: l.prefix, Delimiter: "/", Token: token})
		l.ahead <- listed{out, err}
	})
}

// Close stops a page asked for ahead and waits for it; pkg/sftp calls it
// when the client closes the directory.
func (l *lister) Close() error {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	return nil
}

func (l *lister) fetch() error {
	var out store.ListPage
	var err error
	if l.ahead != nil {
		r := <-l.ahead
		l.cancel()
		l.ahead, l.cancel = nil, nil
		out, err = r.out, r.err
	} else {
		out, err = l.h.fs.obj.List(l.h.ctx, store.ListRequest{Bucket: l.h.home.Bucket, Prefix: l.prefix, Delimiter: "/", Token: l.token})
	}
	if err != nil {
		return l.h.s3Failure("list", l.path, err)
	}
	listed := time.Now().Truncate(time.Second)
	if l.times == nil {
		l.times = l.h.fs.times.List(l.h.ctx, l.h.home.Bucket, l.prefix, out)
	}
	for _, cp := range out.Prefixes {
		name, ok := l.h.home.Name(strings.TrimSuffix(strings.TrimPrefix(cp, l.prefix), "/"))
		if ok && listable(name) {
			l.page = append(l.page, fileInfo{name: name, dir: true, mtime: l.h.fs.times.ListedDir(l.h.home.Bucket, cp, listed)})
		}
	}
	var files []keptime.File
	var at []int // each file's place in the page
	for _, obj := range out.Objects {
		rel := strings.TrimPrefix(obj.Key, l.prefix)
		if dir, marker := strings.CutSuffix(rel, "/"); marker && dir != "" {
			// A subdirectory's marker listed as an object rather than as a
			// common prefix, as the embedded store does: still a directory.
			if name, ok := l.h.home.Name(dir); ok && listable(name) && !slices.Contains(out.Prefixes, obj.Key) {
				l.page = append(l.page, fileInfo{name: name, dir: true, mtime: l.h.fs.times.ListedDir(l.h.home.Bucket, obj.Key, obj.LastModified)})
			}
			continue
		}
		if rel == objfmt.TimesIndex {
			continue
		}
		name, ok := l.h.home.Name(rel)
		if ok && listable(name) { // skips the directory's own marker ("")
			files = append(files, keptime.File{Key: obj.Key, ETag: obj.ETag, Written: obj.LastModified})
			at = append(at, len(l.page))
			l.page = append(l.page, fileInfo{name: name, size: l.h.fs.seal.ListedSize(obj.Size), mtime: obj.LastModified})
		}
	}
	for i, mtime := range l.times.Times(files) {
		fi := l.page[at[i]].(fileInfo)
		fi.mtime = mtime
		l.page[at[i]] = fi
	}
	if l.token == "" && l.served == 0 { // first page: uploads pending under a temporary name
		for key, info := range l.h.fs.pending.Under(l.h.home.Bucket, l.prefix) {
			if name, ok := l.h.home.Name(strings.TrimPrefix(key, l.prefix)); ok && listable(name) {
				l.page = append(l.page, uploadInfo(name, info))
			}
		}
	}
	l.found = l.found || len(out.Objects) > 0 || len(out.Prefixes) > 0
	l.token = out.NextToken
	l.last = l.token == ""
	if l.last {
		l.times.Done(l.h.ctx)
	} else {
		l.listAhead(l.token)
	}
	return nil
}

// listable hides keys no client could address (written by other tools).
func listable(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.Contains(name, "/") && vfs.CheckName(name) == nil
}

// ListAt returns entries from offset off; pkg/sftp asks with ascending offsets.
func (l *lister) ListAt(ls []os.FileInfo, off int64) (int, error) {
	if off < l.served {
		return 0, boundary.Failure("list failed: directory can only be read forwards")
	}
	for {
		skip := off - l.served
		if skip < int64(len(l.page)) || l.last {
			break
		}
		l.served += int64(len(l.page))
		l.page = l.page[:0]
		if err := l.fetch(); err != nil {
			return 0, err
		}
	}
	skip := off - l.served
	if skip >= int64(len(l.page)) {
		return 0, io.EOF
	}
	n := copy(ls, l.page[skip:])
	l.served += skip + int64(n)
	l.page = l.page[skip+int64(n):]
	if len(l.page) == 0 && l.last {
		return n, io.EOF
	}
	return n, nil
}
