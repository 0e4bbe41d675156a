package s3fs

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// Directory times. A directory is the empty "dir/" marker object mkdir
// puts, or only the common prefix of the keys below it. Its time is the
// marker's: the time a setstat kept on it (metadata s3sftpd-mtime, as for
// files), else its LastModified, the time of the mkdir. A directory with no
// marker has no time of its own and shows the time it was looked at, as
// rclone's S3 backend does.
//
// ListObjectsV2 names a subdirectory only as a common prefix, without its
// marker, and a HEAD per directory would slow every listing down; so a
// listing shows the time this gateway last saw on the marker (by mkdir,
// setstat or stat of the directory), else the time of the listing.

// dirInfo describes the directory at key (no trailing "/") as stat sees it.
// The marker, if any, is the first key under key+"/", so the one-key
// listing that finds the directory finds it too; a HEAD of the marker then
// reads a kept time. ok is false when nothing lives under key+"/".
func (h *handlers) dirInfo(p, key string) (fi fileInfo, ok bool) {
	marker := key + "/"
	out, err := h.fs.obj.List(h.ctx, store.ListRequest{Bucket: h.home.Bucket, Prefix: marker, MaxKeys: 1})
	if err != nil || (len(out.Objects) == 0 && len(out.Prefixes) == 0) {
		return fileInfo{}, false
	}
	fi = fileInfo{name: p, dir: true, mtime: time.Now().Truncate(time.Second)}
	if len(out.Objects) == 0 || out.Objects[0].Key != marker {
		return fi, true // no marker: the time it was looked at
	}
	fi.mtime = h.markerTime(marker, out.Objects[0].LastModified)
	h.fs.dirTimes.put(h.home.Bucket, marker, fi.mtime)
	return fi, true
}

// markerTime is the time of the directory whose marker is the object
// marker: kept on it, else lastModified.
func (h *handlers) markerTime(marker string, lastModified time.Time) time.Time {
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: h.home.Bucket, Key: marker})
	if err != nil {
		return lastModified
	}
	return mtimeOf(head.Metadata, head.LastModified)
}

// listedDirTime is the time a listing shows for the subdirectory whose
// common prefix is marker: the one last seen on its marker, else listed.
func (h *handlers) listedDirTime(marker string, listed time.Time) time.Time {
	if t, ok := h.fs.dirTimes.get(h.home.Bucket, marker); ok {
		return t
	}
	return listed
}

// setDirTime keeps a time set on a directory: it puts the directory's
// marker again (empty, encrypted) with the time in its metadata, which also
// gives a directory that was only a common prefix a marker. That needs the
// mkdir permission. As for files, a time that cannot be kept (no
// permission, a storage error) is logged and audited, and the setstat
// succeeds: WinSCP aborts an upload when it fails.
func (h *handlers) setDirTime(p, key string, mtime time.Time, rec *audit.Record) error {
	if !h.home.Perms.Has(auth.PermMkdir) {
		rec.Op += " (mtime not kept: no mkdir permission)"
		return nil
	}
	marker := key + "/"
	if err := h.putMarker(marker, mtime); err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "mtime not kept", slog.String("path", h.audit.Name(p)), slog.String("err", h.cause(err, marker)))
		rec.Op += " (mtime not kept: storage refused the marker)"
		return nil
	}
	h.fs.dirTimes.put(h.home.Bucket, marker, mtime)
	return nil
}

// refuseDirSize answers a SETSTAT size on a directory, which has none.
func refuseDirSize(flags sftp.FileAttrFlags) error {
	if flags.Size {
		return failure("truncate refused: it is a directory")
	}
	return nil
}

// putMarker creates the empty "dir/" object that makes an empty directory
// visible, keeping mtime in its metadata when it is set.
func (h *handlers) putMarker(key string, mtime time.Time) error {
	_, err := h.fs.obj.Put(h.ctx, store.PutRequest{Bucket: h.home.Bucket, Key: key, Metadata: objfmt.WithMtime(nil, mtime)})
	if err != nil {
		return fmt.Errorf("put marker %s: %w", key, err)
	}
	return nil
}

// dirTimeCache remembers the time of each directory marker this process
// has put or read, per bucket and marker key, for listings. It is bounded:
// when full, it starts over.
type dirTimeCache struct {
	mu sync.Mutex
	m  map[[2]string]time.Time
}

const dirTimeCacheSize = 100_000

func (c *dirTimeCache) get(bucket, marker string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[[2]string{bucket, marker}]
	return t, ok
}

func (c *dirTimeCache) put(bucket, marker string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= dirTimeCacheSize {
		c.m = make(map[[2]string]time.Time)
	}
	c.m[[2]string{bucket, marker}] = t
}

func (c *dirTimeCache) forget(bucket, marker string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, [2]string{bucket, marker})
}
