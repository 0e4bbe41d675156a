package keptime

import (
	"context"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/store"
)

// objectVersion names one version of an object as a listing shows it.
type objectVersion struct {
	bucket, key, etag string
	written           int64 // LastModified, in ns
}

// mtimeCache remembers the times listings found, per object and for the
// version listed, so a directory listed again costs no HEAD per file. A new
// version has another ETag or write time; and every write through this
// process forgets the object (Forgetting), since a metadata rewrite in the
// same second as the listing keeps both. A time read from a tag is
// remembered for TagMtimeTTL only, as a tag set through another replica
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

// Forgetting is the object API Times.Over returns: every call that writes
// an object, or its metadata or tags, forgets its listed time once S3 has
// answered; a deleted directory marker forgets its time. Objects is the
// API it wraps.
type Forgetting struct {
	store.Objects
	times *Times
}

func (f Forgetting) Put(ctx context.Context, r store.PutRequest) (store.Written, error) {
	defer f.times.listed.forget(r.Bucket, r.Key)
	return f.Objects.Put(ctx, r)
}

func (f Forgetting) Copy(ctx context.Context, r store.CopyRequest) (store.Written, error) {
	defer f.times.listed.forget(r.Bucket, r.To)
	return f.Objects.Copy(ctx, r)
}

func (f Forgetting) Complete(ctx context.Context, r store.CompleteRequest) (store.Written, error) {
	defer f.times.listed.forget(r.Bucket, r.Key)
	return f.Objects.Complete(ctx, r)
}

func (f Forgetting) PutTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) error {
	defer f.times.listed.forget(bucket, key)
	return f.Objects.PutTags(ctx, bucket, key, versionID, tags)
}

func (f Forgetting) Delete(ctx context.Context, bucket, key string) error {
	defer f.times.listed.forget(bucket, key)
	defer f.times.dirs.forget(bucket, key)
	return f.Objects.Delete(ctx, bucket, key)
}
