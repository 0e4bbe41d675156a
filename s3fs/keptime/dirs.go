package keptime

import (
	"context"
	"fmt"
	"time"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// Directory times. A directory is the empty "dir/" marker object mkdir
// puts, or only the common prefix of the keys below it. Its time is the
// marker's: the time a setstat kept on it (metadata s3sftpd-mtime, as for
// files), else its LastModified, the time of the mkdir. ListObjectsV2 names
// a subdirectory only as a common prefix, without its marker, and a HEAD
// per directory would slow every listing down; so a listing shows the time
// this process last saw on the marker (SawMarker), else the time of the
// listing.

// MarkerTime is the time of the directory whose marker is the object
// marker: kept on it, else lastModified.
func (t *Times) MarkerTime(ctx context.Context, bucket, marker string, lastModified time.Time) time.Time {
	head, err := t.obj.Head(ctx, store.HeadRequest{Bucket: bucket, Key: marker})
	if err != nil {
		return lastModified
	}
	return mtimeOf(head.Metadata, head.LastModified)
}

// PutMarker creates the empty "dir/" object that makes an empty directory
// visible, keeping mtime in its metadata when it is set.
func (t *Times) PutMarker(ctx context.Context, bucket, marker string, mtime time.Time) error {
	_, err := t.obj.Put(ctx, store.PutRequest{Bucket: bucket, Key: marker, Metadata: objfmt.WithMtime(nil, mtime)})
	if err != nil {
		return fmt.Errorf("put marker %s: %w", marker, err)
	}
	return nil
}

// SawMarker remembers the time of a directory marker this process has put
// or read, for listings.
func (t *Times) SawMarker(bucket, marker string, mtime time.Time) { t.dirs.put(bucket, marker, mtime) }

// ListedDir is the time a listing shows for the subdirectory whose common
// prefix is marker: the one last seen on its marker, else listed.
func (t *Times) ListedDir(bucket, marker string, listed time.Time) time.Time {
	if kept, ok := t.dirs.get(bucket, marker); ok {
		return kept
	}
	return listed
}
