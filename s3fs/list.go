package s3fs

import (
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
	"github.com/s3sftpd/s3sftpd/s3fs/listing"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

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
		return attr.Upload(p, u.Info()), nil
	}
	if info, ok := h.fs.pending.Info(m.Bucket, key); ok {
		return attr.Upload(p, info), nil
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
	if canSee {
		h.mu.Lock()
		h.absent, h.absentAt = p, time.Now()
		h.mu.Unlock()
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
	f := &folder{h: h, m: m, prefix: prefix, tree: h.tree.Entries(pl.Path)}
	l, err := listing.New(h.ctx, h.fs.obj, store.ListRequest{Bucket: m.Bucket, Prefix: prefix, Delimiter: "/"}, f.entries,
		func(err error) error { return h.s3Failure("list", p, err) })
	if err != nil {
		return nil, err
	}
	if !m.IsRoot(prefix) && !f.found && !pl.Virtual {
		l.Close()
		if ok, _ := h.fileExists(m, p, strings.TrimSuffix(prefix, "/")); ok {
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
	m      *vfs.Mount
	tree   []string // the folders and segments above them here: shown first, each once
	prefix string
	found  bool             // the first page had a key: the directory exists, even if only its marker
	times  *keptime.Listing // the folder's kept times, from its first page on
}

func (f *folder) entries(out store.ListPage, first, last bool) []os.FileInfo {
	h, m := f.h, f.m
	shows := func(name string) bool { return listing.Listable(name) && !slices.Contains(f.tree, name) } // no folder shadows it
	var page []os.FileInfo
	listed := time.Now().Truncate(time.Second)
	if first {
		f.times = h.fs.times.List(h.ctx, m.Bucket, f.prefix, out)
		f.found = len(out.Objects) > 0 || len(out.Prefixes) > 0
		page = append(page, attr.Dirs(f.tree, listed)...)
	}
	for _, cp := range out.Prefixes {
		name, ok := m.Name(strings.TrimSuffix(strings.TrimPrefix(cp, f.prefix), "/"))
		if ok && shows(name) {
			page = append(page, attr.Info{Path: name, Dir: true, Mtime: h.fs.times.ListedDir(m.Bucket, cp, listed)})
		}
	}
	var files []keptime.File
	var at []int
	for _, obj := range out.Objects {
		rel := strings.TrimPrefix(obj.Key, f.prefix)
		if dir, marker := strings.CutSuffix(rel, "/"); marker && dir != "" {
			// A subdirectory's marker listed as an object rather than as a
			// common prefix, as the embedded store does: still a directory.
			if name, ok := m.Name(dir); ok && shows(name) && !slices.Contains(out.Prefixes, obj.Key) {
				page = append(page, attr.Info{Path: name, Dir: true, Mtime: h.fs.times.ListedDir(m.Bucket, obj.Key, obj.LastModified)})
			}
			continue
		}
		name, ok := m.Name(rel)
		if ok && shows(name) { // skips the directory's own marker ("")
			files = append(files, keptime.File{Key: obj.Key, ETag: obj.ETag, Written: obj.LastModified})
			at = append(at, len(page))
			page = append(page, attr.Info{Path: name, Bytes: h.fs.seal.ListedSize(obj.Size), Mtime: obj.LastModified})
		}
	}
	for i, mtime := range f.times.Times(files) {
		fi := page[at[i]].(attr.Info)
		fi.Mtime = mtime
		fi.Path, fi.Bytes = h.gates.Listed(m.Gates, fi.Path, fi.Bytes)
		page[at[i]] = fi
	}
	if first { // uploads pending under a temporary name
		for key, info := range h.fs.pending.Under(m.Bucket, f.prefix) {
			if name, ok := m.Name(strings.TrimPrefix(key, f.prefix)); ok && shows(name) {
				page = append(page, attr.Upload(name, info))
			}
		}
	}
	if last {
		f.times.Done(h.ctx, m.Perms.Has(auth.PermWrite))
	}
	return page
}
