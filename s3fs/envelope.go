package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/pipeline"
	"github.com/s3sftpd/s3sftpd/store"
)

// envelopePartCap is the largest plaintext part whose ciphertext fits S3's
// 5 GiB part limit, a whole number of chunks.
const envelopePartCap = maxPartSize / objfmt.CipherChunkSize * objfmt.ChunkSize

// sealer encrypts one new object: its chunk cipher, and the metadata that
// stores its wrapped data key, bound to the key the object is made under.
type sealer struct {
	stage   *pipeline.Seal // the upload's stage that seals the chunks
	meta    map[string]string
	dataKey []byte // kept to bind meta again if the upload moves to another key
}

// newSealer returns the cipher of a new object at key for tenant t, or nil
// when new objects are not envelope-encrypted.
func (fs *FS) newSealer(ctx context.Context, t *auth.Tenant, key string) (*sealer, error) {
	if !fs.envelope {
		return nil, nil
	}
	var (
		dataKey []byte
		meta    map[string]string
		err     error
	)
	if fs.kms != nil {
		dataKey, meta, err = fs.kms.newDataKey(ctx, binding(t, key), objfmt.NewObjectID())
		if err != nil {
			return nil, err
		}
	} else {
		dataKey, meta = fs.keys.NewDataKey(binding(t, key))
	}
	obj, err := objfmt.NewObject(dataKey, meta)
	if err != nil {
		return nil, fmt.Errorf("new data key: %w", err)
	}
	return &sealer{stage: pipeline.NewSeal(obj), meta: meta, dataKey: dataKey}, nil
}

// bindTo wraps the data key for key instead: a temporary file's upload
// moves to its final key before anything is stored.
func (s *sealer) bindTo(ctx context.Context, fs *FS, t *auth.Tenant, key string) error {
	if s == nil {
		return nil
	}
	keyMeta, err := fs.wrap(ctx, s.dataKey, binding(t, key), objfmt.MetaValue(s.meta, objfmt.MetaObjectID))
	if err != nil {
		return err
	}
	s.meta = keyMeta
	return nil
}

// resume makes the sealer seal in the next epoch, so chunks sealed again
// after a disconnect (a part in flight then may still have landed) never
// reuse a nonce.
func (s *sealer) resume() error {
	if s == nil {
		return nil
	}
	return s.stage.NextEpoch()
}

// opener decrypts one stored object; nil for an object stored as plaintext.
type opener struct {
	obj      *objfmt.Object
	finalIdx int64
}

// errNotEncrypted is an object stored without envelope encryption read
// where every object must have it.
var errNotEncrypted = errors.New("object is not envelope-encrypted")

// openerFor reads an object's encryption from its HEAD, and returns its
// plaintext size. Under envelope mode an unencrypted object is refused: it
// was not written by this gateway (or predates encryption), and serving it
// would let anyone with write access to the bucket plant content.
func (fs *FS) openerFor(ctx context.Context, t *auth.Tenant, key string, head store.Object) (*opener, int64, error) {
	raw := head.Size
	if !objfmt.Encrypted(head.Metadata) {
		if fs.envelope {
			return nil, 0, fmt.Errorf("open %s: %w", key, errNotEncrypted)
		}
		return nil, raw, nil
	}
	if err := fs.checkFormat(head.Metadata); err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	dataKey, err := fs.dataKey(ctx, head.Metadata, binding(t, key))
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	size, err := objfmt.PlainSize(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	obj, err := objfmt.NewObject(dataKey, head.Metadata)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	return &opener{obj: obj, finalIdx: objfmt.Chunks(size) - 1}, size, nil
}

// errFormat1 is an envelope object of format version 1 where the config
// refuses them (encryption.format_v1 = "refuse").
var errFormat1 = errors.New("envelope format version 1 refused")

// checkFormat refuses an object of envelope format version 1 when the
// config says to: it is bound to no name, so it may have been copied here.
func (fs *FS) checkFormat(meta map[string]string) error {
	if fs.refuseV1 && objfmt.MetaValue(meta, objfmt.MetaVersion) == objfmt.Version1 {
		return errFormat1
	}
	return nil
}

// checkEmpty authenticates the one chunk of an encrypted object that holds
// nothing: a longer object cut to a single chunk's length must not pass for
// an empty file.
func (h *handlers) checkEmpty(key, etag string, op *opener) error {
	out, err := h.fs.obj.Get(h.ctx, store.GetRequest{Bucket: h.home.Bucket, Key: key, IfMatch: etag})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	stored, err := io.ReadAll(io.LimitReader(out.Body, objfmt.CipherChunkSize))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if _, err := op.obj.Open(nil, stored, 0, op.finalIdx); err != nil {
		return fmt.Errorf("open %s: %w", key, err)
	}
	return nil
}

// names returns tenant t's name cipher, or nil when names are plain.
func (fs *FS) names(t *auth.Tenant) *objfmt.Names {
	if fs.nameKey == nil {
		return nil
	}
	n, err := objfmt.NamesFromKEK(fs.nameKey, t.Bucket, t.Prefix)
	if err != nil {
		panic("s3fs: a valid name key was refused: " + err.Error())
	}
	return n
}

// listedSize is the size to show for a listed object of raw stored bytes:
// under envelope mode every object is encrypted, so the plaintext size
// follows from the stored size without a HEAD.
func (fs *FS) listedSize(raw int64) int64 {
	if !fs.envelope {
		return raw
	}
	size, err := objfmt.PlainSize(raw)
	if err != nil {
		return 0 // not in the format: reading it will fail with a clear error
	}
	return size
}

// headSize is the size to show for an object from its HEAD.
func (fs *FS) headSize(head store.Object) int64 {
	raw := head.Size
	if !objfmt.Encrypted(head.Metadata) {
		return raw
	}
	size, _ := objfmt.PlainSize(raw)
	return size
}
