// Package keptime keeps the modification time a client sets on a file or a
// directory beside its bytes, and reads it back for stat and listings.
// S3's LastModified is when an object was written and cannot be set, yet
// partners' tools preserve times and compare them on the next sync. A time
// a client sets is kept as objfmt.MetaMtime, in the object's metadata or in
// a tag of the same name (see Times.InTag); a directory's time is kept on
// its "dir/" marker. The s3fs handlers decide when a time is set (SETSTAT,
// an upload's close, a rename); this package decides how it is stored and
// found: Keep (keep this time for bucket/key) and List (the kept times of
// one listing, read from the folder's index at the cost of one GET, or
// none in a folder without kept times; see index.go). It never imports
// s3fs.
package keptime

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// DefaultCopyLimit is the largest object whose time Keep may keep by a
// self-copy: a copy costs as much as the object and, in a versioned bucket,
// a new version. A time set on a larger object is an object tag from the
// start, and one on a smaller object becomes a tag after that one copy.
const DefaultCopyLimit = 64 << 20

// Times keeps and finds the times of one FS's objects. Build it with New,
// then route every object call through Over, so that writes with a time
// enter it in their folder's index (index.go).
type Times struct {
	obj       store.Objects    // the object API Over returned
	raw       store.Objects    // the one it wraps, for the index's own calls
	now       func() time.Time // the clock of listings
	CopyLimit int64            // largest object Keep copies for its time; tests lower it
	// OnIndexError is told of an index that could not be read or written:
	// the time stays on the object (stat shows it), a listing shows the
	// file's LastModified.
	OnIndexError func(key string, err error)
	dirs         dirTimeCache // times of directory markers, for listings

	mu    sync.Mutex
	timed map[string]bool // multipart uploads in progress whose object carries a time
}

// New returns the kept times of an FS whose clock is now.
func New(now func() time.Time) *Times {
	return &Times{now: now, CopyLimit: DefaultCopyLimit, timed: map[string]bool{}}
}

// Over returns objects wrapped so that every write that carries a kept
// time also enters it in the folder's index, once S3 has answered, and a
// deleted directory marker forgets its time. The Times then makes its own
// calls through it.
func (t *Times) Over(objects store.Objects) store.Objects {
	t.raw = objects
	t.obj = Indexing{objects, t}
	return t.obj
}

// InTag reports whether an object's time is read from its tags: its
// metadata says so (objfmt.MtimeInTag), or it is too large for a time to be
// copied into its metadata (Keep tags it instead).
func (t *Times) InTag(head store.Object) bool {
	return objfmt.MtimeTagged(head.Metadata) || head.Size > t.CopyLimit
}

// Of is the time stat and listings show for an object: see mtimeOf; when it
// may be in a tag, one GetObjectTagging (a failed one reads as no tag), and
// without the tag the metadata's time.
func (t *Times) Of(ctx context.Context, bucket, key string, head store.Object, lastModified time.Time) time.Time {
	if t.InTag(head) {
		if tags, err := t.obj.Tags(ctx, bucket, key, head.VersionID); err == nil && tags[objfmt.MetaMtime] != "" {
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

// NotKept is a time Keep does not keep, and why, for the audit trail.
type NotKept string

func (e NotKept) Error() string { return "mtime not kept: " + string(e) }

// Keep keeps a time set on a stored object, which head describes, at a
// bounded cost, as setstat may be sent in a loop. An object whose time is
// in a tag (see InTag) gets a new tag on the same version: no copy, no new
// version. Any other object is copied onto itself once, at most CopyLimit
// bytes, with the time moved into a tag, so later times cost no copy
// either. A time the object already has costs no write. A store without
// tags gets the time in the metadata by a self-copy, up to CopyLimit, and
// a larger object there gets a NotKept.
func (t *Times) Keep(ctx context.Context, bucket, key string, head store.Object, mtime time.Time) error {
	value := objfmt.FormatMtime(mtime)
	tags, err := t.obj.Tags(ctx, bucket, key, head.VersionID) // every tag, ours and other tools', which a new set must keep
	switch {
	case store.IsNotImplemented(err):
		return t.keepInMetadata(ctx, bucket, key, head, mtime)
	case err != nil:
		return fmt.Errorf("get tags of %s: %w", key, err)
	case t.InTag(head):
		if tags[objfmt.MetaMtime] == value {
			return nil
		}
		tags[objfmt.MetaMtime] = value
		if err := t.obj.PutTags(ctx, bucket, key, head.VersionID, tags); err != nil {
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
	_, err = t.obj.Copy(ctx, store.CopyRequest{
		Bucket: bucket, From: key, To: key, IfMatch: head.ETag, Size: head.Size,
		Metadata: meta, ContentType: head.ContentType, Tags: tags,
	})
	if err != nil {
		return fmt.Errorf("move mtime of %s into a tag: %w", key, err)
	}
	return nil
}

// keepInMetadata is Keep on a store without tags: a metadata self-copy,
// for objects up to CopyLimit only.
func (t *Times) keepInMetadata(ctx context.Context, bucket, key string, head store.Object, mtime time.Time) error {
	if head.Metadata[objfmt.MetaMtime] == objfmt.FormatMtime(mtime) {
		return nil
	}
	if head.Size > t.CopyLimit {
		return NotKept("the store keeps no tags and the file is too large to copy for a time")
	}
	return t.KeepInMetadata(ctx, bucket, key, head, mtime)
}

// KeepInMetadata rewrites an object's metadata in place (a server-side
// self-copy with REPLACE) with mtime, keeping every other metadata key, its
// content type and encryption. The object must still be the one head
// described.
func (t *Times) KeepInMetadata(ctx context.Context, bucket, key string, head store.Object, mtime time.Time) error {
	_, err := t.obj.Copy(ctx, store.CopyRequest{
		Bucket: bucket, From: key, To: key, IfMatch: head.ETag, Size: head.Size,
		Metadata: objfmt.WithMtime(head.Metadata, mtime), ContentType: head.ContentType,
	})
	if err != nil {
		return fmt.Errorf("keep mtime of %s: %w", key, err)
	}
	return nil
}

// File is a file of a listing page whose kept time a Listing finds: its
// object key (encrypted, with encrypted names), ETag and LastModified.
type File struct {
	Key, ETag string
	Written   time.Time
}
