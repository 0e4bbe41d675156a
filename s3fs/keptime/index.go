package keptime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// The times index. ListObjectsV2 returns no metadata, and a HEAD per file
// made a listing of a large folder take minutes; a cache in the process
// would not hold after a restart nor on another replica. So every time
// kept through the gateway is also written to an index object in its
// folder (objfmt.TimesIndex), which a listing reads with one GET. An
// entry names the version of the object it was kept for (ETag and
// LastModified); a listed object of any other version (written straight
// to S3, or through the gateway without a time) shows its LastModified,
// and the listing drops the entry. The index is written with If-Match (or
// If-None-Match when new), and rewritten from a fresh read when another
// writer got there first, so two gateways lose no entries. A folder
// without kept times has no index, and the first listing page shows that:
// its listing costs nothing beyond ListObjectsV2.

// indexTries bounds the read-modify-write rounds of one index update.
const indexTries = 8

// staleAfter is how old an entry of an object a listing did not show must
// be for the listing to drop it: a younger one may be of an object written
// after the listing passed its name.
const staleAfter = 5 * time.Minute

// index is the body of a times index: each file's entry, by the last
// segment of its object key.
type index struct {
	Files map[string]entry `json:"files"`
}

// entry is a time kept for one version of an object.
type entry struct {
	ETag    string `json:"etag"`
	Written int64  `json:"written"` // the version's LastModified, unix seconds
	Mtime   int64  `json:"mtime"`   // the kept time, unix seconds
}

// IsIndex reports whether key is a times index, which no client sees.
func IsIndex(key string) bool { return objfmt.IsTimesIndex(key) }

// indexKey is the key of the index of the folder key lives in.
func indexKey(key string) (dir, name string) {
	i := strings.LastIndex(key, "/")
	return key[:i+1] + objfmt.TimesIndex, key[i+1:]
}

// readIndex is the index at key and its ETag; a missing one is empty, with
// ETag "".
func (t *Times) readIndex(ctx context.Context, bucket, key string) (index, string, error) {
	idx := index{Files: map[string]entry{}}
	r, err := t.raw.Get(ctx, store.GetRequest{Bucket: bucket, Key: key})
	if store.IsNotFound(err) {
		return idx, "", nil
	}
	if err != nil {
		return idx, "", fmt.Errorf("get times index: %w", err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&idx); err != nil {
		return index{Files: map[string]entry{}}, r.ETag, fmt.Errorf("read times index: %w", err)
	}
	if idx.Files == nil {
		idx.Files = map[string]entry{}
	}
	return idx, r.ETag, nil
}

// writeIndex stores idx at key if it is still the one of ETag etag ("":
// none yet); it fails with store.IsPrecondition when another writer came
// first.
func (t *Times) writeIndex(ctx context.Context, bucket, key string, idx index, etag string) error {
	if len(idx.Files) == 0 && etag != "" {
		// Deleting is not conditional in S3: an empty index stays, as "{}".
		idx.Files = map[string]entry{}
	}
	body, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	_, err = t.raw.Put(ctx, store.PutRequest{Bucket: bucket, Key: key, Body: body, ContentType: "application/json",
		IfNoneMatch: etag == "", IfMatch: etag})
	return err
}

// updateIndex applies change to the index of key's folder until the write
// wins: a lost race reads the index again, so a concurrent writer's entries
// stay.
func (t *Times) updateIndex(ctx context.Context, bucket, key string, change func(index, string)) error {
	ik, name := indexKey(key)
	for range indexTries {
		idx, etag, err := t.readIndex(ctx, bucket, ik)
		if err != nil {
			return err
		}
		change(idx, name)
		err = t.writeIndex(ctx, bucket, ik, idx, etag)
		if err == nil {
			return nil
		}
		if !store.IsPrecondition(err) && store.HTTPStatus(err) != http.StatusConflict {
			return fmt.Errorf("put times index: %w", err)
		}
	}
	return errors.New("put times index: too many concurrent writers")
}

// index records, after a write of key through the gateway that carried a
// kept time (or may have, as a copy keeping the source's), the time the
// object of ETag etag now has. An object without one leaves the index as
// it is: an entry there is of an older version, which listings ignore and
// drop.
func (t *Times) index(ctx context.Context, bucket, key, etag string) {
	if IsIndex(key) {
		return
	}
	head, err := t.raw.Head(ctx, store.HeadRequest{Bucket: bucket, Key: key, IfMatch: etag})
	if err != nil {
		t.indexFailed(key, err) // overwritten meanwhile: that version lists with its own time
		return
	}
	mtime := t.Of(ctx, bucket, key, head, time.Time{})
	if mtime.IsZero() {
		return
	}
	err = t.updateIndex(ctx, bucket, key, func(idx index, name string) {
		idx.Files[name] = entry{ETag: head.ETag, Written: head.LastModified.Unix(), Mtime: mtime.Unix()}
	})
	if err != nil {
		t.indexFailed(key, err)
	}
}

func (t *Times) indexFailed(key string, err error) {
	if t.OnIndexError != nil {
		t.OnIndexError(key, err)
	}
}

// Listing is the kept times of one folder listing. Get it with List, ask
// Times for each page and call Done after the last.
type Listing struct {
	t       *Times
	bucket  string
	key     string // of the index
	idx     index
	etag    string // of the index read; "" when there is none
	started time.Time
	stale   []string // entries to drop
	seen    map[string]bool
}

// List starts the listing of the folder prefix, whose first ListObjectsV2
// page is first. The index is read only when the page shows it, or when
// the page ends before the index's name would come: a folder without kept
// times costs no request. A failed read shows every file's LastModified.
func (t *Times) List(ctx context.Context, bucket, prefix string, first store.ListPage) *Listing {
	l := &Listing{t: t, bucket: bucket, key: prefix + objfmt.TimesIndex, started: t.now()}
	if !mayHold(first, l.key) {
		return l
	}
	idx, etag, err := t.readIndex(ctx, bucket, l.key)
	if err != nil {
		t.indexFailed(l.key, err)
		return l
	}
	l.idx, l.etag, l.seen = idx, etag, map[string]bool{}
	return l
}

// mayHold reports whether the folder of the listing page first may have
// an index at key.
func mayHold(first store.ListPage, key string) bool {
	last := ""
	for _, o := range first.Objects {
		if o.Key == key {
			return true
		}
		last = max(last, o.Key)
	}
	for _, p := range first.Prefixes {
		last = max(last, p)
	}
	return first.NextToken != "" && last < key
}

// Times is the time to show for each file of one page, in order: the kept
// one when the index has it for the version listed, else Written.
func (l *Listing) Times(files []File) []time.Time {
	times := make([]time.Time, len(files))
	for i, f := range files {
		times[i] = f.Written
		if l.seen == nil {
			continue
		}
		name := path.Base(f.Key)
		e, ok := l.idx.Files[name]
		if !ok {
			continue
		}
		l.seen[name] = true
		switch {
		case e.ETag == f.ETag && e.Written == f.Written.Unix():
			times[i] = time.Unix(e.Mtime, 0)
		case e.Written < f.Written.Unix():
			l.stale = append(l.stale, name) // overwritten since: not the version the time was kept for
		}
	}
	return times
}

// Done ends a listing read to its end: with repair (a user who may write
// there; others' roles may not), entries of overwritten objects, and of
// objects gone for some time, are dropped from the index, unless another
// writer changed it meanwhile (the next listing tries again).
func (l *Listing) Done(ctx context.Context, repair bool) {
	if l.seen == nil || !repair {
		return
	}
	cutoff := l.started.Add(-staleAfter).Unix()
	for name, e := range l.idx.Files {
		if !l.seen[name] && e.Written < cutoff {
			l.stale = append(l.stale, name)
		}
	}
	if len(l.stale) == 0 {
		return
	}
	for _, name := range l.stale {
		delete(l.idx.Files, name)
	}
	if err := l.t.writeIndex(ctx, l.bucket, l.key, l.idx, l.etag); err != nil && !store.IsPrecondition(err) {
		l.t.indexFailed(l.key, err)
	}
	l.seen = nil
}
