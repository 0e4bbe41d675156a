package s3fs

import "github.com/s3sftpd/s3sftpd/store"

// The multipart uploads this process has in flight, which the orphan sweep
// (ops.Sweep) must never abort: only the FS knows them.

// track records a multipart upload of this process as in flight, so that no
// sweep aborts it; the returned func forgets it once completed or aborted.
func (fs *FS) track(id string) (untrack func()) {
	fs.live.Store(id, struct{}{})
	return func() { fs.live.Delete(id) }
}

// InFlight reports whether the multipart upload uploadID is being written
// by this process: the orphan sweep leaves it alone. (A pending upload,
// closed under a temporary name and never renamed, is not: the sweep ends
// it after the age.)
func (fs *FS) InFlight(uploadID string) bool {
	_, ok := fs.live.Load(uploadID)
	return ok
}

// Swept tells the FS that the orphan sweep aborted uploadID: a pending
// upload never renamed is forgotten, so its temporary name no longer shows.
func (fs *FS) Swept(uploadID string) { fs.pending.DropUploadID(uploadID) }

// Objects is the object API the FS calls S3 through, for the orphan sweep's
// listings and aborts, which then go where the FS's own go.
func (fs *FS) Objects() store.Objects { return fs.obj }
