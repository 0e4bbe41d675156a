package s3fs

import (
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/s3fs/listing"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
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

// uploadInfo describes an upload open or pending as name.
func uploadInfo(name string, u upload.Info) fileInfo {
	return fileInfo{name: name, size: u.Size, mtime: u.Mtime}
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
		return listing.Fixed{fi}, nil
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
	if !canSee || h.home.Stored(p) != p { // what it sent: clients compare sizes after an upload
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
			_, fi.size = h.gates.Listed(h.home.Gates, p, fi.size)
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
		h.absent, h.absentAt = p, time.Now()
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
	f := &folder{h: h, prefix: prefix}
	l, err := listing.New(h.ctx, h.fs.obj, store.ListRequest{Bucket: h.home.Bucket, Prefix: prefix, Delimiter: "/"}, f.entries,
		func(err error) error { return h.s3Failure("list", p, err) })
	if err != nil {
		return nil, err
	}
	if !h.home.IsRoot(prefix) && !f.found {
		l.Close()
		if ok, _ := h.fileExists(p, strings.TrimSuffix(prefix, "/")); ok {
			return nil, boundary.Failure("list refused: not a directory")
		}
		return nil, boundary.ErrNoSuchFile
	}
	return l, nil
}

// folder makes the entries of one directory listing, a ListObjectsV2 page
// (1000 keys) at a time (package listing pages it).
type folder struct {
	h      *handlers
	prefix string
	found  bool             // the first page had a key: the directory exists, even if only its marker
	times  *keptime.Listing // the folder's kept times, from its first page on
}

func (f *folder) entries(out store.ListPage, first, last bool) []os.FileInfo {
	h := f.h
	var page []os.FileInfo
	listed := time.Now().Truncate(time.Second)
	if first {
		f.times = h.fs.times.List(h.ctx, h.home.Bucket, f.prefix, out)
		f.found = len(out.Objects) > 0 || len(out.Prefixes) > 0
	}
	for _, cp := range out.Prefixes {
		name, ok := h.home.Name(strings.TrimSuffix(strings.TrimPrefix(cp, f.prefix), "/"))
		if ok && listing.Listable(name) {
			page = append(page, fileInfo{name: name, dir: true, mtime: h.fs.times.ListedDir(h.home.Bucket, cp, listed)})
		}
	}
	var files []keptime.File
	var at []int // each file's place in the page
	for _, obj := range out.Objects {
		rel := strings.TrimPrefix(obj.Key, f.prefix)
		if dir, marker := strings.CutSuffix(rel, "/"); marker && dir != "" {
			// A subdirectory's marker listed as an object rather than as a
			// common prefix, as the embedded store does: still a directory.
			if name, ok := h.home.Name(dir); ok && listing.Listable(name) && !slices.Contains(out.Prefixes, obj.Key) {
				page = append(page, fileInfo{name: name, dir: true, mtime: h.fs.times.ListedDir(h.home.Bucket, obj.Key, obj.LastModified)})
			}
			continue
		}
		name, ok := h.home.Name(rel)
		if ok && listing.Listable(name) { // skips the directory's own marker ("")
			files = append(files, keptime.File{Key: obj.Key, ETag: obj.ETag, Written: obj.LastModified})
			at = append(at, len(page))
			page = append(page, fileInfo{name: name, size: h.fs.seal.ListedSize(obj.Size), mtime: obj.LastModified})
		}
	}
	for i, mtime := range f.times.Times(files) {
		fi := page[at[i]].(fileInfo)
		fi.mtime = mtime
		fi.name, fi.size = h.gates.Listed(h.home.Gates, fi.name, fi.size)
		page[at[i]] = fi
	}
	if first { // uploads pending under a temporary name
		for key, info := range h.fs.pending.Under(h.home.Bucket, f.prefix) {
			if name, ok := h.home.Name(strings.TrimPrefix(key, f.prefix)); ok && listing.Listable(name) {
				page = append(page, uploadInfo(name, info))
			}
		}
	}
	if last {
		f.times.Done(h.ctx, h.home.Perms.Has(auth.PermWrite))
	}
	return page
}
