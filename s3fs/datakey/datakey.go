// Package datakey is the source of envelope data keys: a new object's key
// made and wrapped, a stored object's unwrapped, a renamed object's wrapped
// again for its new name (the key is bound to it). AWS KMS does it when
// configured, else the local KEKs (objfmt.Keyring). It reaches KMS only
// through store's KMSClient, and knows nothing of SFTP, S3 or sessions.
package datakey

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// KMS takes envelope data keys from AWS KMS instead of a local KEK: one
// GenerateDataKey per object written, one Decrypt per object opened, and a
// Decrypt and an Encrypt per rename (the data key is bound to the name). The
// encryption context names the tenant (bucket and home) and a digest of the
// object's key and id, so KMS refuses a data key in an object moved to
// another name or home, and CloudTrail records which tenant's data was
// opened without recording names.
type KMS struct {
	Client store.KMSClient
	KeyID  string // key id, ARN or alias of the KMS key
}

// Source makes and opens data keys: with KMS when set, else with Keyring.
// The zero Source has no key: it can neither make nor open one.
type Source struct {
	KMS     *KMS
	Keyring *objfmt.Keyring
}

// Configured reports whether the source has a key to open objects with.
func (s Source) Configured() bool { return s.KMS != nil || s.Keyring != nil }

// NewDataKey is a data key for a new object at b, and the metadata that
// stores it wrapped.
func (s Source) NewDataKey(ctx context.Context, b objfmt.Binding) ([]byte, map[string]string, error) {
	if s.KMS != nil {
		return s.KMS.newDataKey(ctx, b, objfmt.NewObjectID())
	}
	if s.Keyring == nil || s.Keyring.Current == nil {
		return nil, nil, fmt.Errorf("new data key: %w", objfmt.ErrUnknownKEK)
	}
	dataKey, meta := s.Keyring.NewDataKey(b)
	return dataKey, meta, nil
}

// newDataKey asks KMS for a data key for a new object at b with id objectID.
func (k *KMS) newDataKey(ctx context.Context, b objfmt.Binding, objectID string) ([]byte, map[string]string, error) {
	dataKey, blob, arn, err := k.Client.GenerateDataKey(ctx, k.KeyID, objfmt.EncryptionContext(objfmt.Version, b, objectID))
	if err != nil {
		return nil, nil, fmt.Errorf("kms generate data key: %w", err)
	}
	if len(dataKey) != objfmt.KeySize {
		return nil, nil, fmt.Errorf("kms generate data key: %d bytes, want %d", len(dataKey), objfmt.KeySize)
	}
	return dataKey, objfmt.KMSMetadata(arn, blob, b, objectID), nil
}

// wrap has KMS encrypt an existing data key under the configured key and
// the encryption context of an object at b with id objectID: the metadata
// it returns is what GenerateDataKey would have given a new object there.
func (k *KMS) wrap(ctx context.Context, dataKey []byte, b objfmt.Binding, objectID string) (map[string]string, error) {
	blob, arn, err := k.Client.Encrypt(ctx, k.KeyID, dataKey, objfmt.EncryptionContext(objfmt.Version, b, objectID))
	if err != nil {
		return nil, fmt.Errorf("kms encrypt data key: %w", err)
	}
	return objfmt.KMSMetadata(arn, blob, b, objectID), nil
}

// KeyARN is the ARN of the configured key (which may be named by id or
// alias): the id objects wrapped by it record.
func (k *KMS) KeyARN(ctx context.Context) (string, error) {
	arn, err := k.Client.KeyARN(ctx, k.KeyID)
	if err != nil {
		return "", fmt.Errorf("kms describe key %s: %w", k.KeyID, err)
	}
	return arn, nil
}

// dataKey has KMS unwrap the data key of an object at b under its
// encryption context; a key wrapped for another tenant (or, from version 2,
// another name) fails, as does tampered metadata.
func (k *KMS) dataKey(ctx context.Context, meta map[string]string, b objfmt.Binding) ([]byte, error) {
	blob, encCtx, err := objfmt.KMSCiphertext(meta, b)
	if err != nil {
		return nil, err
	}
	dataKey, err := k.Client.Decrypt(ctx, blob, encCtx)
	if err != nil {
		if errors.Is(err, store.ErrInvalidCiphertext) {
			return nil, fmt.Errorf("kms decrypt: %v: %w", err, objfmt.ErrAuth)
		}
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	if len(dataKey) != objfmt.KeySize {
		return nil, fmt.Errorf("kms decrypt: %d bytes: %w", len(dataKey), objfmt.ErrAuth)
	}
	return dataKey, nil
}

// DataKey unwraps the data key of an object at b from its metadata: with
// KMS when KMS wrapped it, else with the local KEKs.
func (s Source) DataKey(ctx context.Context, meta map[string]string, b objfmt.Binding) ([]byte, error) {
	if objfmt.KMSWrapped(meta) {
		if s.KMS == nil {
			return nil, fmt.Errorf("data key wrapped by KMS: %w", objfmt.ErrUnknownKEK)
		}
		return s.KMS.dataKey(ctx, meta, b)
	}
	if s.Keyring == nil {
		return nil, objfmt.ErrUnknownKEK
	}
	return s.Keyring.DataKey(meta, b)
}

// Wrap returns the metadata of data key dataKey for an object at b with id
// objectID, wrapped by the current key source: KMS when configured, else
// the current KEK.
func (s Source) Wrap(ctx context.Context, dataKey []byte, b objfmt.Binding, objectID string) (map[string]string, error) {
	switch {
	case s.KMS != nil:
		return s.KMS.wrap(ctx, dataKey, b, objectID)
	case s.Keyring == nil || s.Keyring.Current == nil:
		return nil, fmt.Errorf("wrap data key: %w", objfmt.ErrUnknownKEK)
	}
	return s.Keyring.Wrap(dataKey, b, objectID), nil
}

// Rebind returns the metadata of an encrypted object at from with its data
// key wrapped for to instead (by the current key source), the rest of the
// metadata kept: a rename moves the binding, never the body. An object of
// format version 1 comes out as version 2 with no object id, its chunks as
// they were.
func (s Source) Rebind(ctx context.Context, meta map[string]string, from, to objfmt.Binding) (map[string]string, error) {
	dataKey, err := s.DataKey(ctx, meta, from)
	if err != nil {
		return nil, err
	}
	keyMeta, err := s.Wrap(ctx, dataKey, to, objfmt.MetaValue(meta, objfmt.MetaObjectID))
	if err != nil {
		return nil, err
	}
	return objfmt.WithDataKey(meta, keyMeta), nil
}
