package s3fs

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/pkg/sftp"
	"golang.org/x/sync/errgroup"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
)

// Modification times. S3's LastModified is when an object was written and
// cannot be set, yet partners' tools preserve times (scp -p, WinSCP, lftp
// mirror, rclone, paramiko utime) and compare them on the next sync. A time a
// client sets is kept as user metadata, in unix seconds, and stat and
// listings show it in place of LastModified.
const mtimeMeta = "s3sftpd-mtime"

// mtimeInTag in place of the time says the time is an object tag of the same
// name: an upload pending under a temporary name (pending.go) has its
// metadata fixed before the client sets the time, and a tag is set on the
// completed object without a copy.
const mtimeInTag = "tag"

// objectMtime is the time stat and listings show for an object: see mtimeOf;
// when kept in a tag, one GetObjectTagging.
func (h *handlers) objectMtime(key string, head *s3.HeadObjectOutput, lastModified *time.Time) time.Time {
	if head.Metadata[mtimeMeta] == mtimeInTag {
		return mtimeOf(h.objectTags(key, head), lastModified)
	}
	return mtimeOf(head.Metadata, lastModified)
}

// mtimeOf is an object's modification time: the kept one, else LastModified.
func mtimeOf(meta map[string]string, lastModified *time.Time) time.Time {
	if s, ok := meta[mtimeMeta]; ok {
		if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(secs, 0)
		}
	}
	return aws.ToTime(lastModified)
}

// withMtime returns a copy of meta that keeps mtime (if set). It never
// drops other keys (s3sftpd-upload, s3sftpd-sha256, a partner tool's own).
func withMtime(meta map[string]string, mtime time.Time) map[string]string {
	out := maps.Clone(meta)
	if out == nil {
		out = map[string]string{}
	}
	if !mtime.IsZero() {
		out[mtimeMeta] = strconv.FormatInt(mtime.Unix(), 10)
	}
	return out
}

// setstat answers SETSTAT and FSETSTAT. Only the modification time is
// kept; size (scp and lftp send the size they wrote), permissions and owner
// are accepted and ignored, as S3 has none. It fails only for a missing
// file or a failed HEAD: WinSCP and paramiko abort a transfer when setstat
// fails, so a time that cannot be kept is logged and audited, not refused.
func (h *handlers) setstat(r *sftp.Request, key string, rec *audit.Record) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	rec.Op = setstatOp(flags, attrs)
	mtime := time.Unix(int64(attrs.Mtime), 0)
	if u := h.openUpload(r.Filepath); u != nil { // lftp and scp set size and time before CLOSE
		u.setAttrs(flags, attrs.Size, mtime)
		return nil
	}
	if u := h.fs.pending.take(h.tenant.Bucket, key); u != nil { // WinSCP, after CLOSE: kept by the rename
		u.setAttrs(flags, 0, mtime)
		u.truncate = false
		h.fs.pending.put(u)
		return nil
	}
	if !flags.Acmodtime {
		return nil
	}
	if h.jail.isRoot(key) {
		return nil
	}
	if !h.canSee() && !h.uploadedHere(r.Filepath) && !h.isDir(key) {
		return errNoSuchFile // what stat tells this user: setstat reveals no names either
	}
	head, err := h.fs.s3.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: h.bucket(), Key: &key})
	if err == nil && h.fs.isTemp(r.Filepath) { // WinSCP and rclone rename it next: the rename's copy stores the time
		h.mu.Lock()
		h.mtimes[r.Filepath] = mtime
		h.mu.Unlock()
		return nil
	}
	if err != nil {
		if isNotFound(err) {
			if h.isDir(key) {
				return nil // directories have no object to keep a time on
			}
			return errNoSuchFile
		}
		return h.s3Failure("setstat", r.Filepath, err)
	}
	if !h.tenant.Perms.Has(auth.PermWrite) || !h.tenant.Perms.Has(auth.PermOverwrite) {
		rec.Op += " (mtime not kept: no overwrite permission)"
		return nil // keeping it rewrites the object; without overwrite it is a no-op, not a refusal
	}
	if aws.ToInt64(head.ContentLength) > maxPartSize {
		rec.Op += " (mtime not kept: object over 5 GiB)"
		return nil // a self-copy would be a multipart copy of the whole object
	}
	if err := h.keepMtime(key, head, mtime); err != nil {
		h.log.LogAttrs(h.ctx, slog.LevelWarn, "mtime not kept", slog.String("path", h.audit.Name(r.Filepath)), slog.String("err", h.cause(err, key)))
		rec.Op += " (mtime not kept: storage refused the metadata copy)"
	}
	return nil
}

// keepMtime rewrites an object's metadata in place (a server-side self-copy
// with REPLACE), keeping every other metadata key, its content type and
// encryption. The object must still be the one head described.
func (h *handlers) keepMtime(key string, head *s3.HeadObjectOutput, mtime time.Time) error {
	src := copySource(h.tenant.Bucket, key)
	_, err := h.fs.s3.CopyObject(h.ctx, &s3.CopyObjectInput{
		Bucket: h.bucket(), Key: &key, CopySource: &src, CopySourceIfMatch: head.ETag,
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: withMtime(head.Metadata, mtime),
		ContentType:          head.ContentType,
		ServerSideEncryption: h.fs.enc.mode(), SSEKMSKeyId: h.fs.enc.keyID(),
	})
	if err != nil {
		return fmt.Errorf("keep mtime of %s: %w", key, err)
	}
	return nil
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

// setAttrs records a SETSTAT while the file is open: the time is stored with
// the object, and size 0 makes an upload with nothing written replace the
// object with an empty file (scp of an empty file opens without TRUNC).
func (u *upload) setAttrs(flags sftp.FileAttrFlags, size uint64, mtime time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if flags.Acmodtime {
		u.mtime = mtime
	}
	u.truncate = u.truncate || (flags.Size && size == 0)
}

// keepLateMtime keeps a time set after the multipart upload was created
// (lftp sets it just before CLOSE) with a metadata self-copy of the completed
// object. The upload has succeeded either way: a failure is logged, and the
// object shows its write time.
func (u *upload) keepLateMtime() {
	u.mu.Lock()
	mtime, late := u.mtime, !u.mtime.IsZero() && !u.createdMeta
	u.mu.Unlock()
	if !late {
		return
	}
	if u.h.fs.isTemp(u.path) { // its rename comes next and stores the time (OpenSSH put -p of name.filepart)
		u.h.mu.Lock()
		u.h.mtimes[u.path] = mtime
		u.h.mu.Unlock()
		return
	}
	head, err := u.h.fs.s3.HeadObject(u.ctx, &s3.HeadObjectInput{Bucket: u.h.bucket(), Key: &u.key})
	if err == nil && aws.ToInt64(head.ContentLength) <= maxPartSize {
		err = u.h.keepMtime(u.key, head, mtime)
	}
	if err != nil {
		u.h.log.LogAttrs(u.ctx, slog.LevelWarn, "mtime not kept", slog.String("path", u.h.audit.Name(u.path)), slog.String("err", u.h.cause(err, u.key)))
	}
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
		if t, ok := h.fs.listedMtimes.get(version); ok {
			fi.mtime = t
			page[f.i] = fi
			continue
		}
		g.Go(func() error {
			head, err := h.fs.s3.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: h.bucket(), Key: &f.key})
			if err != nil {
				return nil
			}
			written := fi.mtime
			fi.mtime = h.objectMtime(f.key, head, &written)
			page[f.i] = fi
			// A time kept in a tag is tagged just after the object is
			// written: until it is there, the answer is not final.
			if head.Metadata[mtimeMeta] != mtimeInTag || !fi.mtime.Equal(written) {
				h.fs.listedMtimes.put(version, fi.mtime)
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
// same second as the listing keeps both. It is bounded: when full, it
// starts over.
type mtimeCache struct {
	mu sync.Mutex
	m  map[[2]string]cachedMtime // bucket, key
}

type cachedMtime struct {
	version objectVersion
	mtime   time.Time
}

const mtimeCacheSize = 100_000

func (c *mtimeCache) get(v objectVersion) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[[2]string{v.bucket, v.key}]
	return e.mtime, ok && e.version == v
}

func (c *mtimeCache) put(v objectVersion, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= mtimeCacheSize {
		c.m = make(map[[2]string]cachedMtime)
	}
	c.m[[2]string{v.bucket, v.key}] = cachedMtime{v, t}
}

func (c *mtimeCache) forget(bucket, key *string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, [2]string{aws.ToString(bucket), aws.ToString(key)})
}

// forgetWrites is the FS's S3 client: every call that writes an object, or
// its metadata or tags, forgets its listed time once S3 has answered.
type forgetWrites struct {
	s3API
	cache *mtimeCache
}

func (f forgetWrites) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	defer f.cache.forget(in.Bucket, in.Key)
	return f.s3API.PutObject(ctx, in, o...)
}

func (f forgetWrites) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	defer f.cache.forget(in.Bucket, in.Key)
	return f.s3API.CopyObject(ctx, in, o...)
}

func (f forgetWrites) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	defer f.cache.forget(in.Bucket, in.Key)
	return f.s3API.CompleteMultipartUpload(ctx, in, o...)
}

func (f forgetWrites) PutObjectTagging(ctx context.Context, in *s3.PutObjectTaggingInput, o ...func(*s3.Options)) (*s3.PutObjectTaggingOutput, error) {
	defer f.cache.forget(in.Bucket, in.Key)
	return f.s3API.PutObjectTagging(ctx, in, o...)
}

func (f forgetWrites) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	defer f.cache.forget(in.Bucket, in.Key)
	return f.s3API.DeleteObject(ctx, in, o...)
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
