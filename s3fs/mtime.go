package s3fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/sync/errgroup"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
)

// Modification times. S3's LastModified is when an object was written and
// cannot be set, yet partners' tools preserve times and compare them on the
// next sync. A time a client sets is kept as objfmt.MetaMtime, in the
// object's metadata or in a tag of the same name (see timeInTag), and stat
// and listings show it in place of LastModified.

// mtimeCopyLimit is the largest object whose time a setstat may keep by a
// self-copy: a copy costs as much as the object and, in a versioned bucket,
// a new version. A time set on a larger object is an object tag from the
// start, and one on a smaller object becomes a tag after that one copy.
const mtimeCopyLimit = 64 << 20

// timeInTag reports whether an object's time is read from its tags: its
// metadata says so (objfmt.MtimeInTag), or it is too large for a time to be copied
// into its metadata (setstat tags it instead).
func (fs *FS) timeInTag(head store.Object) bool {
	return objfmt.MtimeTagged(head.Metadata) || head.Size > fs.mtimeCopyLimit
}

// objectMtime is the time stat and listings show for an object: see mtimeOf;
// when it may be in a tag, one GetObjectTagging, and without the tag the
// metadata's time.
func (h *handlers) objectMtime(key string, head store.Object, lastModified time.Time) time.Time {
	if h.fs.timeInTag(head) {
		if tags := h.objectTags(key, head); tags[objfmt.MetaMtime] != "" {
			return mtimeOf(tags, lastModified)
		}
	}
	return mtimeOf(head.Metadata, lastModified)
}

// mtimeOf is an object's modification time: the kept one, else LastModified.
func mtimeOf(meta map[string]string, lastModified time.Time) time.Time {
	if t, ok := objfmt.Mtime(meta); ok {
		return t
	}
	return lastModified
}

// setstat answers SETSTAT and FSETSTAT. The modification time is kept, on
// a file or on a directory's marker (dirtime.go); the access time is not
// (stat shows it equal to mtime). A size is accepted on a file being
// uploaded (scp and lftp send the size they wrote) and when it is the
// stored file's size; size 0 with overwrite replaces the file with an empty
// one; any other size is refused, as S3 cannot change an object's size in
// place. Permissions and owner are accepted and ignored, as S3 has none.
// Otherwise it fails only for a missing file or a failed request: WinSCP
// and paramiko abort a transfer when setstat fails, so a time that cannot
// be kept is logged and audited, not refused.
func (h *handlers) setstat(r *sftp.Request, key string, rec *audit.Record) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	rec.Op = setstatOp(flags, attrs)
	mtime := time.Unix(int64(attrs.Mtime), 0)
	if u := h.openUpload(r.Filepath); u != nil { // lftp and scp set size and time before CLOSE
		if flags.Acmodtime {
			u.SetTime(mtime)
		}
		if flags.Size && attrs.Size == 0 {
			u.Truncate()
		}
		return nil
	}
	if u := h.fs.pending.Take(h.home.Bucket, key); u != nil { // WinSCP, after CLOSE: kept by the rename
		if flags.Acmodtime {
			u.SetTime(mtime)
		}
		h.fs.pending.Put(u)
		return nil
	}
	if !flags.Acmodtime && !flags.Size {
		return nil
	}
	if h.home.IsRoot(key) {
		if err := refuseDirSize(flags); err != nil {
			return err
		}
		rec.Op += " (mtime not kept: the home directory has no marker)"
		return nil
	}
	if !h.canSee() && !h.uploadedHere(r.Filepath) && !h.isDir(key) {
		return errNoSuchFile // what stat tells this user: setstat reveals no names either
	}
	head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: h.home.Bucket, Key: key})
	if err != nil {
		if isNotFound(err) {
			if _, ok := h.dirInfo(r.Filepath, key); ok {
				if err := refuseDirSize(flags); err != nil {
					return err
				}
				return h.setDirTime(r.Filepath, key, mtime, rec)
			}
			return errNoSuchFile
		}
		return h.s3Failure("setstat", r.Filepath, err)
	}
	if flags.Size && attrs.Size != uint64(h.fs.headSize(head)) {
		return h.truncate(r.Filepath, key, flags, attrs.Size, mtime)
	}
	if !flags.Acmodtime {
		return nil
	}
	if h.fs.isTemp(r.Filepath) { // WinSCP and rclone rename it next: the rename's copy stores the time
		h.mu.Lock()
		h.mtimes[r.Filepath] = mtime
		h.mu.Unlock()
		return nil
	}
	if !h.tenant.Perms.Has(auth.PermWrite) || !h.tenant.Perms.Has(auth.PermOverwrite) {
		rec.Op += " (mtime not kept: no overwrite permission)"
		return nil // keeping it rewrites the object; without overwrite it is a no-op, not a refusal
	}
	var notKept mtimeNotKept
	if err := h.storeMtime(key, head, mtime); errors.As(err, &notKept) {
		rec.Op += " (mtime not kept: " + string(notKept) + ")"
	} else if err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "mtime not kept", slog.String("path", h.audit.Name(r.Filepath)), slog.String("err", h.cause(err, key)))
		rec.Op += " (mtime not kept: storage refused it)"
	}
	return nil
}

// mtimeNotKept is a time setstat does not keep, and why, for the audit trail.
type mtimeNotKept string

func (e mtimeNotKept) Error() string { return "mtime not kept: " + string(e) }

// storeMtime keeps a time set on a stored object at a bounded cost, as
// setstat may be sent in a loop. An object whose time is in a tag (see
// timeInTag) gets a new tag on the same version: no copy, no new version.
// Any other object is copied onto itself once, at most mtimeCopyLimit
// bytes, with the time moved into a tag, so later times cost no copy
// either. A time the object already has costs no write. A store without
// tags gets the time in the metadata by a self-copy, up to mtimeCopyLimit.
func (h *handlers) storeMtime(key string, head store.Object, mtime time.Time) error {
	value := objfmt.FormatMtime(mtime)
	tags, err := h.allTags(key, head.VersionID)
	switch {
	case isNotImplemented(err):
		return h.keepMtimeInMetadata(key, head, mtime)
	case err != nil:
		return err
	case h.fs.timeInTag(head):
		if tags[objfmt.MetaMtime] == value {
			return nil
		}
		tags[objfmt.MetaMtime] = value
		if err := h.fs.obj.PutTags(h.ctx, h.home.Bucket, key, head.VersionID, tags); err != nil {
			return fmt.Errorf("tag mtime of %s: %w", key, err)
		}
		return nil
	case head.Metadata[objfmt.MetaMtime] == value:
		return nil
	}
	tags[objfmt.MetaMtime] = value
	meta := maps.Clone(head.Metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[objfmt.MetaMtime] = objfmt.MtimeInTag
	_, err = h.fs.obj.Copy(h.ctx, store.CopyRequest{
		Bucket: h.home.Bucket, From: key, To: key, IfMatch: head.ETag, Size: head.Size,
		Metadata: meta, ContentType: head.ContentType, Tags: tags,
	})
	if err != nil {
		return fmt.Errorf("move mtime of %s into a tag: %w", key, err)
	}
	return nil
}

// keepMtimeInMetadata is storeMtime on a store without tags: a metadata
// self-copy, for objects up to mtimeCopyLimit only.
func (h *handlers) keepMtimeInMetadata(key string, head store.Object, mtime time.Time) error {
	if head.Metadata[objfmt.MetaMtime] == objfmt.FormatMtime(mtime) {
		return nil
	}
	if head.Size > h.fs.mtimeCopyLimit {
		return mtimeNotKept("the store keeps no tags and the file is too large to copy for a time")
	}
	return h.keepMtime(key, head, mtime)
}

// allTags is every tag of one version of an object (ours and any other
// tool's, which a new tag set must keep).
func (h *handlers) allTags(key string, versionID string) (map[string]string, error) {
	tags, err := h.fs.obj.Tags(h.ctx, h.home.Bucket, key, versionID)
	if err != nil {
		return nil, fmt.Errorf("get tags of %s: %w", key, err)
	}
	return tags, nil
}

// keepMtime rewrites an object's metadata in place (a server-side self-copy
// with REPLACE), keeping every other metadata key, its content type and
// encryption. The object must still be the one head described.
func (h *handlers) keepMtime(key string, head store.Object, mtime time.Time) error {
	_, err := h.fs.obj.Copy(h.ctx, store.CopyRequest{
		Bucket: h.home.Bucket, From: key, To: key, IfMatch: head.ETag, Size: head.Size,
		Metadata: objfmt.WithMtime(head.Metadata, mtime), ContentType: head.ContentType,
	})
	if err != nil {
		return fmt.Errorf("keep mtime of %s: %w", key, err)
	}
	return nil
}

// truncate answers a SETSTAT that changes a stored file's size. Size 0
// (OpenSSH and paramiko truncate, a client emptying a log) replaces the file
// with an empty one, as an upload of nothing would, keeping a time set with
// it; it needs write and overwrite. S3 cannot shorten or extend an object in
// place, so any other size is refused and the file stays as it was.
func (h *handlers) truncate(p, key string, flags sftp.FileAttrFlags, size uint64, mtime time.Time) error {
	if size != 0 {
		return unsupported("truncate refused: a stored file's size can only be set to 0; upload the file again to change it")
	}
	if err := h.require(auth.PermWrite, "truncate", p); err != nil {
		return err
	}
	if !h.tenant.Perms.Has(auth.PermOverwrite) {
		return denied("truncate refused: overwrite is not permitted for this user")
	}
	s, err := h.fs.newSealer(h.ctx, h.tenant, key)
	if err != nil {
		return h.s3Failure("truncate", p, err)
	}
	f := upload.File{Path: p, Key: key, Overwrite: true, Sealer: s}
	if flags.Acmodtime {
		f.Mtime = mtime
	}
	u := upload.New(h.fs.uploadConfig(), session{h}, f)
	h.mu.Lock()
	if _, busy := h.open[p]; busy {
		h.mu.Unlock()
		u.Drop()
		return failure("truncate refused: this file is open for upload in this session")
	}
	h.open[p] = u
	h.mu.Unlock()
	return u.Close() // stores the empty file and records it, as a CLOSE does
}

// setstatOp describes what a SETSTAT asked for, for the audit trail.
func setstatOp(flags sftp.FileAttrFlags, attrs *sftp.FileStat) string {
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

// headsInFlight bounds the HEAD requests of one listing page.
const headsInFlight = 16

// listedFile is a file of a listing page: its place in the page, and its
// object key (encrypted, with encrypted names) and ETag.
type listedFile struct {
	i         int
	key, etag string
}

// keptMtimes puts kept times into the files of one listing page.
// ListObjectsV2 returns no metadata, so a file costs a HEAD (headsInFlight at
// once) the first time this process lists it; the time is then remembered
// for that version of the object. A failed HEAD leaves the write time.
func (h *handlers) keptMtimes(page []os.FileInfo, files []listedFile) {
	var g errgroup.Group
	g.SetLimit(headsInFlight)
	for _, f := range files {
		fi := page[f.i].(fileInfo)
		version := objectVersion{h.tenant.Bucket, f.key, f.etag, fi.mtime.UnixNano()}
		if t, ok := h.fs.listedMtimes.get(version, h.fs.now()); ok {
			fi.mtime = t
			page[f.i] = fi
			continue
		}
		g.Go(func() error {
			head, err := h.fs.obj.Head(h.ctx, store.HeadRequest{Bucket: h.home.Bucket, Key: f.key})
			if err != nil {
				return nil
			}
			written := fi.mtime
			fi.mtime = h.objectMtime(f.key, head, written)
			page[f.i] = fi
			switch {
			case !h.fs.timeInTag(head):
				h.fs.listedMtimes.put(version, fi.mtime, time.Time{})
			case objfmt.MtimeTagged(head.Metadata) && fi.mtime.Equal(written):
				// tagged just after the object is written: until the tag is there, the answer is not final
			default:
				// A new tag keeps the version: this process forgets its own
				// tag writes, another replica's show after tagMtimeTTL.
				h.fs.listedMtimes.put(version, fi.mtime, h.fs.now().Add(tagMtimeTTL))
			}
			return nil
		})
	}
	g.Wait()
}

// objectVersion names one version of an object as a listing shows it.
type objectVersion struct {
	bucket, key, etag string
	written           int64 // LastModified, in ns
}

// mtimeCache remembers the times listings found, per object and for the
// version listed, so a directory listed again costs no HEAD per file. A new
// version has another ETag or write time; and every write through this
// process forgets the object (forgetWrites), since a metadata rewrite in the
// same second as the listing keeps both. A time read from a tag is
// remembered for tagMtimeTTL only, as a tag set through another replica
// changes neither. It is bounded: when full, it starts over.
type mtimeCache struct {
	mu sync.Mutex
	m  map[[2]string]cachedMtime // bucket, key
}

type cachedMtime struct {
	version objectVersion
	mtime   time.Time
	until   time.Time // zero: as long as the version lasts
}

const mtimeCacheSize = 100_000

// tagMtimeTTL is how long a listing remembers a time read from a tag.
const tagMtimeTTL = 30 * time.Second

func (c *mtimeCache) get(v objectVersion, now time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[[2]string{v.bucket, v.key}]
	return e.mtime, ok && e.version == v && (e.until.IsZero() || now.Before(e.until))
}

func (c *mtimeCache) put(v objectVersion, t, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= mtimeCacheSize {
		c.m = make(map[[2]string]cachedMtime)
	}
	c.m[[2]string{v.bucket, v.key}] = cachedMtime{v, t, until}
}

func (c *mtimeCache) forget(bucket, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, [2]string{bucket, key})
}

// forgetWrites is the FS's object API: every call that writes an object,
// or its metadata or tags, forgets its listed time once S3 has answered; a
// deleted directory marker forgets its time.
type forgetWrites struct {
	store.Objects
	cache *mtimeCache
	dirs  *dirTimeCache
}

func (f forgetWrites) Put(ctx context.Context, r store.PutRequest) (store.Written, error) {
	defer f.cache.forget(r.Bucket, r.Key)
	return f.Objects.Put(ctx, r)
}

func (f forgetWrites) Copy(ctx context.Context, r store.CopyRequest) (store.Written, error) {
	defer f.cache.forget(r.Bucket, r.To)
	return f.Objects.Copy(ctx, r)
}

func (f forgetWrites) Complete(ctx context.Context, r store.CompleteRequest) (store.Written, error) {
	defer f.cache.forget(r.Bucket, r.Key)
	return f.Objects.Complete(ctx, r)
}

func (f forgetWrites) PutTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) error {
	defer f.cache.forget(bucket, key)
	return f.Objects.PutTags(ctx, bucket, key, versionID, tags)
}

func (f forgetWrites) Delete(ctx context.Context, bucket, key string) error {
	defer f.cache.forget(bucket, key)
	defer f.dirs.forget(bucket, key)
	return f.Objects.Delete(ctx, bucket, key)
}

// takeMtime returns and forgets the time held for a temporary file.
func (h *handlers) takeMtime(p string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.mtimes[p]
	delete(h.mtimes, p)
	return t, ok
}

// heldMtime is the time held for a temporary file, if any.
func (h *handlers) heldMtime(p string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.mtimes[p]
	return t, ok
}
