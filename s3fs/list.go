package s3fs

import (
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/attr"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// uploadInfo describes an upload open or pending as name.
func uploadInfo(name string, u upload.Info) attr.Info {
	return attr.Info{Path: name, Bytes: u.Size, Mtime: u.Mtime}
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
		return attr.List{fi}, nil
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
	pl, err := h.at(p, nil)
	if err != nil {
		return nil, err
	}
	m, key := pl.Mount, pl.Key
	switch {
	case !pl.Exists():
		return nil, boundary.ErrNoSuchFile
	case m == nil || pl.Virtual || m.IsRoot(key): // a mount's root or the tree's: no marker of its own, the time it was looked at
		return attr.Info{Path: pl.Path, Dir: true, Mtime: time.Now().Truncate(time.Second)}, nil
	}
	if u := h.openUpload(p); u != nil {
		return uploadInfo(p, u.Info()), nil
	}
	if info, ok := h.fs.pending.Info(m.Bucket, key); ok {
		return uploadInfo(p, info), nil
	}
	canSee := h.canSee(m)
	if !canSee || m.Stored(p) != p { // what it sent: clients compare sizes after an upload
		h.mu.Lock()
		fi, ok := h.uploaded[p]
		h.mu.Unlock()
		if ok {
			return fi, nil
		}
	}
	if canSee {
		head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: m.Bucket, Key: key})
		if err == nil {
			fi := attr.Info{Path: p, Bytes: sealing.HeadSize(head), Mtime: h.objectMtime(m, key, head, head.LastModified)}
			if t, ok := h.heldMtime(p); ok {
				fi.Mtime = t
			}
			_, fi.Bytes = h.gates.Listed(m.Gates, p, fi.Bytes)
			return fi, nil
		}
		if !isNotFound(err) {
			return nil, h.s3Failure("stat", p, err)
		}
	}
	if fi, ok := h.dirInfo(m, p, key); ok {
		return fi, nil
	}
	return nil, boundary.ErrNoSuchFile
}

// isDir reports whether anything lives under key+"/". Errors count as no.
func (h *handlers) isDir(m *vfs.Mount, key string) bool {
	out, err := h.fs.obj.List(h.ctx, store.ListRequest{Bucket: m.Bucket, Prefix: key + "/", MaxKeys: 1})
	return err == nil && (len(out.Objects) > 0 || len(out.Prefixes) > 0)
}

// list opens a directory listing that pages through S3 as the client reads.
// The tree's own directories (the virtual "/" and the segments above
// folders) list the folders to anyone; a directory of the home holding
// folders lists them in place of its own entries of their names.
func (h *handlers) list(p string) (sftp.ListerAt, error) {
	pl, err := h.at(p, nil)
	if err != nil {
		return nil, err
	}
	if err := h.auditReady(); err != nil {
		return nil, err
	}
	m, prefix := pl.Mount, pl.Key
	switch {
	case !pl.Exists():
		return nil, boundary.ErrNoSuchFile
	case m == nil || pl.Virtual && !m.Perms.Has(auth.PermList):
		return attr.Dirs(h.tree.Entries(pl.Path), time.Now().Truncate(time.Second)), nil
	}
	if err := h.require(m, auth.PermList, "list", p); err != nil {
		return nil, err
	}
	if !m.IsRoot(prefix) {
		prefix += "/"
	}
	l := &lister{h: h, m: m, path: p, prefix: prefix, tree: h.tree.Entries(pl.Path)}
	if err := l.fetch(); err != nil {
		return nil, err
	}
	if !m.IsRoot(prefix) && !l.found && !pl.Virtual {
		if ok, _ := h.fileExists(m, p, strings.TrimSuffix(prefix, "/")); ok {
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
	m      *vfs.Mount
	path   string
	tree   []string // the folders and segments above them here: shown first, each once
	prefix string
	page   []os.FileInfo // entries fetched and not yet returned
	served int64         // offset of page[0]
	token  string        // of the next page; "" before the first
	last   bool
	found  bool // the first page had a key: the directory exists, even if only its marker
}

func (l *lister) fetch() error {
	out, err := l.h.fs.obj.List(l.h.ctx, store.ListRequest{Bucket: l.m.Bucket, Prefix: l.prefix, Delimiter: "/", Token: l.token})
	if err != nil {
		return l.h.s3Failure("list", l.path, err)
	}
	listed := time.Now().Truncate(time.Second)
	if l.token == "" && l.served == 0 {
		l.page = append(l.page, attr.Dirs(l.tree, listed)...)
	}
	for _, cp := range out.Prefixes {
		name, ok := l.m.Name(strings.TrimSuffix(strings.TrimPrefix(cp, l.prefix), "/"))
		if ok && l.shows(name) {
			l.page = append(l.page, attr.Info{Path: name, Dir: true, Mtime: l.h.fs.times.ListedDir(l.m.Bucket, cp, listed)})
		}
	}
	var files []keptime.File
	var at []int // each file's place in the page
	for _, obj := range out.Objects {
		rel := strings.TrimPrefix(obj.Key, l.prefix)
		if dir, marker := strings.CutSuffix(rel, "/"); marker && dir != "" {
			// A subdirectory's marker listed as an object rather than as a
			// common prefix, as the embedded store does: still a directory.
			if name, ok := l.m.Name(dir); ok && l.shows(name) && !slices.Contains(out.Prefixes, obj.Key) {
				l.page = append(l.page, attr.Info{Path: name, Dir: true, Mtime: l.h.fs.times.ListedDir(l.m.Bucket, obj.Key, obj.LastModified)})
			}
			continue
		}
		name, ok := l.m.Name(rel)
		if ok && l.shows(name) { // skips the directory's own marker ("")
			files = append(files, keptime.File{Key: obj.Key, ETag: obj.ETag, Written: obj.LastModified})
			at = append(at, len(l.page))
			l.page = append(l.page, attr.Info{Path: name, Bytes: l.h.fs.seal.ListedSize(obj.Size), Mtime: obj.LastModified})
		}
	}
	for i, mtime := range l.h.fs.times.Listed(l.h.ctx, l.m.Bucket, files) {
		fi := l.page[at[i]].(attr.Info)
		fi.Mtime = mtime
		fi.Path, fi.Bytes = l.h.gates.Listed(l.m.Gates, fi.Path, fi.Bytes)
		l.page[at[i]] = fi
	}
	if l.token == "" && l.served == 0 { // first page: uploads pending under a temporary name
		for key, info := range l.h.fs.pending.Under(l.m.Bucket, l.prefix) {
			if name, ok := l.m.Name(strings.TrimPrefix(key, l.prefix)); ok && l.shows(name) {
				l.page = append(l.page, uploadInfo(name, info))
			}
		}
	}
	l.found = l.found || len(out.Objects) > 0 || len(out.Prefixes) > 0
	l.token = out.NextToken
	l.last = l.token == ""
	return nil
}

// shows reports whether a stored entry is listed: not a name no client
// could address (written by other tools), nor one a folder shadows.
func (l *lister) shows(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.Contains(name, "/") && vfs.CheckName(name) == nil &&
		!slices.Contains(l.tree, name)
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
