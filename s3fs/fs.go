// Package s3fs serves pkg/sftp request handlers over S3. It resolves each
// SFTP path through the tenant's tree (vfs.Table: the home, the folders) to
// the mount whose bucket, prefix, permissions and gates the request uses,
// decides what it may do (those permissions, the open and pending uploads of
// a session), and turns every
// S3 failure into a safe SFTP status at one edge (boundary.Edge). The byte
// paths live in packages of their own that s3fs drives and that never
// import it back: s3fs/upload (the reorder window, the stages, the parts
// under the upload memory, the commit), s3fs/download (the stream, range
// reads and read-ahead), s3fs/keptime (the times clients set, kept beside
// the bytes and found for stat and listings), s3fs/sealing (which objects
// are sealed and accepted, the name cipher of a place, the operator tools'
// keys) and s3fs/boundary (what a partner may see of an error, and the
// edge). They see a session only
// through upload.Session and download.Session, which handlers.go
// implements.
// It dials nothing and imports nothing of the AWS SDK: it calls S3 through
// the store.Objects the caller hands New, in store's plain types (package
// store owns the clients, role credentials, retries, and the shape of every
// request with its server-side encryption). It never imports internal/tryout:
// the embedded try-out store is started by cmd, so s3fs links none of its
// code (internal/layout checks this).
package s3fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/attr"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/gate"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/s3fs/listing"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// FS is shared by all sessions: one S3 client, one upload memory budget.
type FS struct {
	obj       store.Objects // every S3 call: store shapes the requests, with their encryption
	checksums bool          // send CRC32C checksums per part and for the whole object ("aws" mode)
	partSize  int64         // size of the first parts; later parts grow (package upload)
	budget    int64
	mem       *upload.Budget // process-wide upload buffer budget
	memShare  int64          // each user's share of it, unless the user has its own
	memWait   time.Duration  // longest wait of a write for upload memory
	readAhead *download.ReadAhead
	// onThrottle is Config.Throttled; nil: nobody listens.
	onThrottle func(reason string, d time.Duration)
	log        *slog.Logger
	seal       sealing.Policy // which objects are sealed and accepted, and the name cipher of a place
	hideNames  bool           // logs name no object key, as with audit paths = "hmac" (see boundary.Cause)

	live      sync.Map         // upload id → struct{}: multipart uploads in flight, never swept
	now       func() time.Time // the clock of tagged times in listings; tests move it
	sweepPage int32            // ListMultipartUploads page size; 0 = the store's default (1000)
	times     *keptime.Times   // times clients set, kept on objects and markers, and what listings found
	copyLimit int64            // largest object a rename copies with one CopyObject (larger: parallel parts); tests lower it

	temps   upload.TempNames // temporary names renamed onto their final name (see pending.go)
	pending upload.Table     // uploads under a temporary name, closed and not yet renamed
	gates   gate.Config      // the content gates' scanner and key
}

// New builds an FS over the object API of a store (store.Store.Objects, or
// one a test wraps). The store applies its own Config's server-side
// encryption and checksum mode to every write; cfg's store part must be the
// same (cmd dials the store from it).
func New(objects store.Objects, cfg Config, log *slog.Logger) (*FS, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	partSize := cfg.PartSize
	if cfg.Envelope { // parts hold whole chunks, so they encrypt independently
		partSize = (partSize + objfmt.ChunkSize - 1) / objfmt.ChunkSize * objfmt.ChunkSize
	}
	fs := &FS{
		seal:       sealing.Policy{Keys: cfg.Keys, KMS: cfg.KMS, NameKey: cfg.NameKey, Seal: cfg.Envelope, RefuseFormat1: cfg.RefuseFormat1},
		hideNames:  cfg.HideNames,
		checksums:  cfg.Checksums == ChecksumsAWS,
		partSize:   partSize,
		budget:     cfg.UploadMemory,
		mem:        upload.NewBudget(cfg.UploadMemory),
		memShare:   cfg.UploadMemoryShare,
		memWait:    cfg.UploadMemoryWait,
		readAhead:  download.NewReadAhead(cfg.ReadAheadMemory),
		onThrottle: cfg.Throttled,
		log:        log,
		now:        time.Now,
		copyLimit:  copyPartSize,

		temps: cfg.tempNames(), gates: cfg.Gates,
	}
	if fs.memShare == 0 {
		fs.memShare = upload.DefaultShare(fs.budget, partSize)
	}
	if fs.memWait == 0 {
		fs.memWait = DefaultUploadMemoryWait
	}
	fs.times = keptime.New(func() time.Time { return fs.now() })
	fs.times.OnIndexError = func(_ string, err error) { log.Warn("times index not updated", "err", fs.Cause(err)) } // no key: names are PHI
	fs.obj = fs.times.Over(objects)
	return fs, nil
}

// Handlers returns the pkg/sftp handlers for one session of tenant t. ctx is
// the session's context: when it ends, S3 calls in flight are cancelled and
// open uploads abort. Every file operation is recorded to a.
func (fs *FS) Handlers(ctx context.Context, t *auth.Tenant, log *slog.Logger, a *audit.Session) sftp.Handlers {
	ctx = store.WithTenant(ctx, t) // the S3 calls of this session run as its role, if it has one
	h := &handlers{
		fs:       fs,
		ctx:      ctx,
		tenant:   t,
		memShare: fs.memShareOf(t),
		gates:    fs.gates.Session(t.PGPKeys, log),
		log:      log,
		audit:    a,
		open:     make(map[string]*upload.Upload),
		uploaded: make(map[string]attr.Info),
		mtimes:   make(map[string]time.Time),
	}
	var err error
	if h.tree, err = vfs.TableOf(t, fs.seal.Names); err != nil { // the config refuses such trees: fail closed
		log.LogAttrs(ctx, slog.LevelError, "the user's tree is invalid; every request is refused", slog.String("err", err.Error()))
	}
	e := h.edge()
	return sftp.Handlers{FileGet: e, FilePut: e, FileCmd: e, FileList: e}
}

// handlers is one session's view of the store: its tree of mounts (the
// home, the folders: each path's bucket, jail and permissions) and the
// uploads it has open or has finished (so a write-only user can stat them).
type handlers struct {
	fs       *FS
	ctx      context.Context
	tenant   *auth.Tenant
	memShare int64      // the user's share of the upload memory
	tree     *vfs.Table // where the session's paths lead; nil refuses every request
	log      *slog.Logger
	audit    *audit.Session // records every file operation; nil records nothing

	mu        sync.Mutex
	openFiles int                       // files open for reading or writing, at most tenant.MaxOpenFiles
	open      map[string]*upload.Upload // client path → upload in progress
	uploaded  map[string]attr.Info      // client path → file this session uploaded
	mtimes    map[string]time.Time      // temporary file's path → time set, stored by its rename
	absent    string                    // the path the last stat found nothing at, for the open that follows
	absentAt  time.Time                 // when
	names     listing.Names             // its last look at a folder, for a batch of opens (see Names)
	gates     *gate.Session             // the content gates of its uploads and downloads
}

// uploadConfig is what an upload takes of the FS's settings.
func (fs *FS) uploadConfig() *upload.Config {
	return &upload.Config{
		Store: fs.obj, Budget: fs.mem, PartSize: fs.partSize, Checksums: fs.checksums,
		Wait: fs.memWait, Throttled: fs.onThrottle, Pending: &fs.pending, Track: fs.track, InFlight: fs.InFlight,
	}
}

// downloadConfig is what a download takes of the FS's settings.
func (fs *FS) downloadConfig() *download.Config {
	return &download.Config{Store: fs.obj, ReadAhead: fs.readAhead, Throttled: fs.onThrottle}
}

// Sealing is the FS's envelope policy, with the keys and names the
// operator tools (ops: decrypt, rewrap) need outside any session.
func (fs *FS) Sealing() *sealing.Policy { return &fs.seal }

// ReadAheadMemoryInUse is the number of bytes of download read-ahead held now.
func (fs *FS) ReadAheadMemoryInUse() int64 { return fs.readAhead.InUse() }

// Reasons passed to Config.Throttled.
const (
	ThrottledReadAheadMemory = download.ThrottledReadAheadMemory
	ThrottledUploadMemory    = upload.ThrottledUploadMemory
)

// DefaultReadAheadMemory is the process-wide read-ahead budget when
// Config.ReadAheadMemory is 0.
const DefaultReadAheadMemory = download.DefaultReadAheadMemory

// UploadMemoryInUse is the number of bytes of upload buffers reserved now.
func (fs *FS) UploadMemoryInUse() int64 { return fs.mem.InUse() }

// memShareOf is t's share of the upload memory: its own, else the default,
// never more than the whole budget.
func (fs *FS) memShareOf(t *auth.Tenant) int64 {
	s := t.Limits.UploadMemory
	if s <= 0 {
		s = fs.memShare
	}
	return min(s, fs.budget)
}

func (h *handlers) require(m *vfs.Mount, p auth.Perms, op, path string) error {
	if m.Perms.Has(p) {
		return nil
	}
	h.log.LogAttrs(h.ctx, slog.LevelWarn, "permission denied", slog.String("op", op), slog.String("path", h.audit.Name(path)))
	return boundary.NotPermitted(op, p)
}

// at resolves the client path p to its place in the session's tree, and
// names its bucket, key and folder in rec when rec is not nil.
func (h *handlers) at(p string, rec *audit.Record) (vfs.Place, error) {
	if h.tree == nil {
		return vfs.Place{}, boundary.Failure("request refused: this account is misconfigured; ask the administrator")
	}
	pl, err := h.tree.Resolve(p)
	if err == nil && rec != nil {
		rec.Key = pl.Key
		*rec = named(*rec, pl)
	}
	return pl, err
}

// keyIn is the key of the client path p when p lies in m; ok is false
// otherwise (another mount, the tree, a name the jail refuses).
func (h *handlers) keyIn(m *vfs.Mount, p string) (key string, ok bool) {
	pl, err := h.tree.Resolve(p)
	return pl.Key, err == nil && pl.Mount == m && !pl.Virtual
}

var errBadConfig = errors.New("s3fs config")

func configError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadConfig}, a...)...)
}
