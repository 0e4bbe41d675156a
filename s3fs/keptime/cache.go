package keptime

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

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

// Indexing is the object API Times.Over returns: every write through it
// that carries a kept time (in metadata or tags, or a copy that keeps the
// source's) also enters that time in its folder's index, once S3 has
// answered; a deleted directory marker forgets its time.
type Indexing struct {
	store.Objects
	times *Times
}

// carriesTime reports whether a write's metadata or tags say anything of a
// kept time.
func carriesTime(meta, tags map[string]string) bool {
	_, inMeta := meta[objfmt.MetaMtime]
	_, inTags := tags[objfmt.MetaMtime]
	return inMeta || inTags
}

func (x Indexing) Put(ctx context.Context, r store.PutRequest) (store.Written, error) {
	w, err := x.Objects.Put(ctx, r)
	if err == nil && carriesTime(r.Metadata, nil) && !strings.HasSuffix(r.Key, "/") {
		x.times.index(ctx, r.Bucket, r.Key, w.ETag)
	}
	return w, err
}

func (x Indexing) Copy(ctx context.Context, r store.CopyRequest) (store.Written, error) {
	w, err := x.Objects.Copy(ctx, r)
	if err == nil && (r.Metadata == nil || carriesTime(r.Metadata, r.Tags)) {
		x.times.index(ctx, r.Bucket, r.To, w.ETag)
	}
	return w, err
}

func (x Indexing) CreateMultipart(ctx context.Context, r store.CreateRequest) (store.Multipart, error) {
	m, err := x.Objects.CreateMultipart(ctx, r)
	if err == nil && carriesTime(r.Metadata, r.Tags) {
		x.times.mu.Lock()
		x.times.timed[m.UploadID] = true
		x.times.mu.Unlock()
	}
	return m, err
}

// timedUpload reports, once, whether the upload's object carries a time.
func (t *Times) timedUpload(uploadID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	timed := t.timed[uploadID]
	delete(t.timed, uploadID)
	return timed
}

func (x Indexing) Complete(ctx context.Context, r store.CompleteRequest) (store.Written, error) {
	w, err := x.Objects.Complete(ctx, r)
	if err == nil && x.times.timedUpload(r.UploadID) {
		x.times.index(ctx, r.Bucket, r.Key, w.ETag)
	}
	return w, err
}

func (x Indexing) Abort(ctx context.Context, bucket, key, uploadID string) error {
	x.times.timedUpload(uploadID)
	return x.Objects.Abort(ctx, bucket, key, uploadID)
}

func (x Indexing) PutTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) error {
	err := x.Objects.PutTags(ctx, bucket, key, versionID, tags)
	if err == nil && carriesTime(nil, tags) {
		x.times.index(ctx, bucket, key, "")
	}
	return err
}

func (x Indexing) Delete(ctx context.Context, bucket, key string) error {
	defer x.times.dirs.forget(bucket, key)
	return x.Objects.Delete(ctx, bucket, key)
}
