package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/datakey"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
)

// newSealer returns the cipher of a new object at key for tenant t, or nil
// when new objects are not envelope-encrypted.
func (fs *FS) newSealer(ctx context.Context, t *auth.Tenant, key string) (*upload.Sealer, error) {
	if !fs.envelope {
		return nil, nil
	}
	return upload.NewSealer(ctx, fs.dataKeys(), binding(t, key))
}

// dataKeys is where the FS's data keys come from: KMS when configured,
// else the local KEKs.
func (fs *FS) dataKeys() datakey.Source { return datakey.Source{KMS: fs.kms, Keyring: fs.keys} }

// binding is where tenant t's object key lives, as its data key is bound.
func binding(t *auth.Tenant, key string) objfmt.Binding {
	return objfmt.Binding{Bucket: t.Bucket, Home: t.Prefix, Key: strings.TrimPrefix(key, t.Prefix)}
}

// KMS takes envelope data keys from AWS KMS instead of a local KEK (see
// package datakey).
type KMS = datakey.KMS

// errNotEncrypted is an object stored without envelope encryption read
// where every object must have it.
var errNotEncrypted = errors.New("object is not envelope-encrypted")

// openerFor reads an object's encryption from its HEAD, and returns its
// plaintext size. Under envelope mode an unencrypted object is refused: it
// was not written by this gateway (or predates encryption), and serving it
// would let anyone with write access to the bucket plant content.
func (fs *FS) openerFor(ctx context.Context, t *auth.Tenant, key string, head store.Object) (*download.Opener, int64, error) {
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
	dataKey, err := fs.dataKeys().DataKey(ctx, head.Metadata, binding(t, key))
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
	return download.NewOpener(obj, size), size, nil
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
func (h *handlers) checkEmpty(key, etag string, op *download.Opener) error {
	out, err := h.fs.obj.Get(h.ctx, store.GetRequest{Bucket: h.home.Bucket, Key: key, IfMatch: etag})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	stored, err := io.ReadAll(io.LimitReader(out.Body, objfmt.CipherChunkSize))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := op.OpenEmpty(stored); err != nil {
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
