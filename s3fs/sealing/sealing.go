// Package sealing is the envelope policy of the FS: which new objects are
// sealed and with which data key, which stored objects are accepted when
// read (format version, plaintext under envelope mode), the name cipher of a
// place, the sizes a client is shown, and the keys the operator tools (ops:
// decrypt, rewrap) need outside any session.
//
// A place is a bucket and a home prefix, never a session or a login: data
// keys and names are bound to where an object lives, so two logins that
// reach the same place read the same objects. It makes no S3 call and knows
// nothing of SFTP: the object format is objfmt's, the data keys datakey's,
// and the byte streams upload's and download's.
package sealing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/datakey"
	"github.com/s3sftpd/s3sftpd/s3fs/download"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Policy is the FS's envelope encryption. The zero Policy seals nothing,
// accepts plaintext and keeps names plain.
type Policy struct {
	Keys          *objfmt.Keyring // unwraps data keys; nil: no envelope-encrypted objects
	KMS           *datakey.KMS    // makes and unwraps data keys instead of Keys, when set
	NameKey       *objfmt.KEK     // encrypts object names; nil keeps them plain
	Seal          bool            // new objects are envelope-encrypted, and every object read must be
	RefuseFormat1 bool            // reads and renames refuse envelope format version 1
}

// ErrNotEncrypted is an object stored without envelope encryption read
// where every object must have it.
var ErrNotEncrypted = errors.New("object is not envelope-encrypted")

// ErrFormat1 is an envelope object of format version 1 where the config
// refuses them (encryption.format_v1 = "refuse").
var ErrFormat1 = errors.New("envelope format version 1 refused")

// Binding is where key lives in home of bucket, as a write there binds its
// data key.
func Binding(bucket, home, key string) objfmt.Binding {
	return objfmt.Binding{Bucket: bucket, Home: home, Key: strings.TrimPrefix(key, home)}
}

// dataKeys is where the data keys come from: KMS when configured, else the
// local KEKs.
func (p *Policy) dataKeys() datakey.Source { return datakey.Source{KMS: p.KMS, Keyring: p.Keys} }

// Envelope reports whether every object must be envelope-encrypted: an
// object stored as plaintext is then refused, even by decrypt.
func (p *Policy) Envelope() bool { return p.Seal }

// Configured reports whether any data key can be opened (KMS or a KEK), so
// that an object may be envelope-encrypted at all.
func (p *Policy) Configured() bool { return p.dataKeys().Configured() }

// NewSealer returns the cipher of a new object at key in home of bucket, or
// nil when new objects are not envelope-encrypted.
func (p *Policy) NewSealer(ctx context.Context, bucket, home, key string) (*upload.Sealer, error) {
	if !p.Seal {
		return nil, nil
	}
	return upload.NewSealer(ctx, p.dataKeys(), Binding(bucket, home, key))
}

// Opener reads an object's encryption from its HEAD, and returns its
// plaintext size; a nil Opener with a plaintext object. Under envelope mode
// an unencrypted object is refused: it was not written by this gateway (or
// predates encryption), and serving it would let anyone with write access
// to the bucket plant content.
func (p *Policy) Opener(ctx context.Context, bucket, home, key string, head store.Object) (*download.Opener, int64, error) {
	raw := head.Size
	if !objfmt.Encrypted(head.Metadata) {
		if p.Seal {
			return nil, 0, fmt.Errorf("open %s: %w", key, ErrNotEncrypted)
		}
		return nil, raw, nil
	}
	if err := p.CheckFormat(head.Metadata); err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	dataKey, err := p.dataKeys().DataKey(ctx, head.Metadata, Binding(bucket, home, key))
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

// CheckFormat refuses an object of envelope format version 1 when the
// config says to: it is bound to no name, so it may have been copied here.
func (p *Policy) CheckFormat(meta map[string]string) error {
	if p.RefuseFormat1 && objfmt.MetaValue(meta, objfmt.MetaVersion) == objfmt.Version1 {
		return ErrFormat1
	}
	return nil
}

// Names returns the name cipher of home in bucket, or nil when names are
// plain.
func (p *Policy) Names(bucket, home string) *objfmt.Names {
	if p.NameKey == nil {
		return nil
	}
	n, err := objfmt.NamesFromKEK(p.NameKey, bucket, home)
	if err != nil {
		panic("sealing: a valid name key was refused: " + err.Error())
	}
	return n
}

// ListedSize is the size to show for a listed object of raw stored bytes:
// under envelope mode every object is encrypted, so the plaintext size
// follows from the stored size without a HEAD.
func (p *Policy) ListedSize(raw int64) int64 {
	if !p.Seal {
		return raw
	}
	size, err := objfmt.PlainSize(raw)
	if err != nil {
		return 0 // not in the format: reading it will fail with a clear error
	}
	return size
}

// HeadSize is the size to show for an object from its HEAD.
func HeadSize(head store.Object) int64 {
	if !objfmt.Encrypted(head.Metadata) {
		return head.Size
	}
	size, _ := objfmt.PlainSize(head.Size)
	return size
}

// DataKey unwraps the data key of an envelope-encrypted object whose
// metadata is meta and which lives at b: with KMS when KMS wrapped it,
// else with the KEKs.
func (p *Policy) DataKey(ctx context.Context, meta map[string]string, b objfmt.Binding) ([]byte, error) {
	return p.dataKeys().DataKey(ctx, meta, b)
}

// Rebind is the metadata of an envelope-encrypted object at from with its
// data key wrapped by the current key source for to (which may be from), in
// the current format version; the rest of the metadata is kept.
func (p *Policy) Rebind(ctx context.Context, meta map[string]string, from, to objfmt.Binding) (map[string]string, error) {
	return p.dataKeys().Rebind(ctx, meta, from, to)
}

// NameDecoder returns the decoder of the stored path segments under home in
// bucket, for decrypt's listing (ops.Store.ListObjects): a segment's
// client-visible name, or ok false for a segment that is not an encrypted
// name of that home. With plain names it returns each segment as it is.
func (p *Policy) NameDecoder(bucket, home string) func(segment string) (name string, ok bool) {
	return vfs.Mount{Bucket: bucket, Prefix: home, Names: p.Names(bucket, home)}.Name
}

// CurrentKeyID is the MetaKEK of the key new data keys are wrapped by, for
// rewrap (ops.Store.Rewrap) to tell which objects are current: "kms:" and
// the ARN of the KMS key when KMS is configured, else the current KEK's id;
// an error when neither is.
func (p *Policy) CurrentKeyID(ctx context.Context) (string, error) {
	switch {
	case p.KMS != nil:
		arn, err := p.KMS.KeyARN(ctx)
		if err != nil {
			return "", err
		}
		return objfmt.KMSPrefix + arn, nil
	case p.Keys == nil || p.Keys.Current == nil:
		return "", errors.New("no key-encryption key configured")
	}
	return p.Keys.Current.ID, nil
}
