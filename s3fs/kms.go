package s3fs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/crypt"
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

// Object metadata of a KMS-wrapped data key: MetaKEK is kmsPrefix plus the
// key ARN KMS answered, MetaDEK the CiphertextBlob, and metaContext the
// tenant of the encryption context (for `s3sftpd decrypt`, which knows no
// tenant). The context holds the tenant under contextKey and, from format
// version 2, crypt.BindingDigest under objectContextKey.
const (
	kmsPrefix        = "kms:"
	metaContext      = crypt.MetaContext
	contextKey       = "s3sftpd-tenant"
	objectContextKey = "s3sftpd-object"
)

// binding is where tenant t's object key lives, as its data key is bound.
func binding(t *auth.Tenant, key string) crypt.Binding {
	return crypt.Binding{Bucket: t.Bucket, Home: t.Prefix, Key: strings.TrimPrefix(key, t.Prefix)}
}

// encryptionContext is the KMS encryption context of a data key of format
// version for an object at b with id objectID.
func encryptionContext(version string, b crypt.Binding, objectID string) map[string]string {
	c := map[string]string{contextKey: b.Tenant()}
	if version != crypt.Version1 {
		c[objectContextKey] = crypt.BindingDigest(b, objectID)
	}
	return c
}

func isKMSWrapped(meta map[string]string) bool {
	id := crypt.MetaValue(meta, crypt.MetaKEK)
	return strings.HasPrefix(id, kmsPrefix)
}

// newDataKey asks KMS for a data key for a new object at b with id objectID.
func (k *KMS) newDataKey(ctx context.Context, b crypt.Binding, objectID string) ([]byte, map[string]string, error) {
	dataKey, blob, arn, err := k.Client.GenerateDataKey(ctx, k.KeyID, encryptionContext(crypt.Version, b, objectID))
	if err != nil {
		return nil, nil, fmt.Errorf("kms generate data key: %w", err)
	}
	if len(dataKey) != crypt.KeySize {
		return nil, nil, fmt.Errorf("kms generate data key: %d bytes, want %d", len(dataKey), crypt.KeySize)
	}
	return dataKey, kmsMetadata(arn, blob, b, objectID), nil
}

// kmsMetadata is the version-2 object metadata of a data key KMS key arn
// wrapped into blob for an object at b with id objectID.
func kmsMetadata(arn string, blob []byte, b crypt.Binding, objectID string) map[string]string {
	m := map[string]string{
		crypt.MetaVersion: crypt.Version,
		crypt.MetaKEK:     kmsPrefix + arn,
		crypt.MetaDEK:     base64.StdEncoding.EncodeToString(blob),
		metaContext:       b.Tenant(),
	}
	if objectID != "" {
		m[crypt.MetaObjectID] = objectID
	}
	return m
}

// wrap has KMS encrypt an existing data key under the configured key and
// the encryption context of an object at b with id objectID: the metadata
// it returns is what GenerateDataKey would have given a new object there.
func (k *KMS) wrap(ctx context.Context, dataKey []byte, b crypt.Binding, objectID string) (map[string]string, error) {
	blob, arn, err := k.Client.Encrypt(ctx, k.KeyID, dataKey, encryptionContext(crypt.Version, b, objectID))
	if err != nil {
		return nil, fmt.Errorf("kms encrypt data key: %w", err)
	}
	return kmsMetadata(arn, blob, b, objectID), nil
}

// keyARN is the ARN of the configured key (which may be named by id or
// alias): the id objects wrapped by it record.
func (k *KMS) keyARN(ctx context.Context) (string, error) {
	arn, err := k.Client.KeyARN(ctx, k.KeyID)
	if err != nil {
		return "", fmt.Errorf("kms describe key %s: %w", k.KeyID, err)
	}
	return arn, nil
}

// dataKey has KMS unwrap the data key of an object at b under its
// encryption context; a key wrapped for another tenant (or, from version 2,
// another name) fails, as does tampered metadata.
func (k *KMS) dataKey(ctx context.Context, meta map[string]string, b crypt.Binding) ([]byte, error) {
	v := crypt.MetaValue(meta, crypt.MetaVersion)
	if v != crypt.Version && v != crypt.Version1 {
		return nil, fmt.Errorf("unsupported encryption format version %q", v)
	}
	dek := crypt.MetaValue(meta, crypt.MetaDEK)
	blob, err := base64.StdEncoding.DecodeString(dek)
	if err != nil {
		return nil, fmt.Errorf("decode wrapped data key: %w", crypt.ErrAuth)
	}
	dataKey, err := k.Client.Decrypt(ctx, blob, encryptionContext(v, b, crypt.MetaValue(meta, crypt.MetaObjectID)))
	if err != nil {
		if errors.Is(err, store.ErrInvalidCiphertext) {
			return nil, fmt.Errorf("kms decrypt: %v: %w", err, crypt.ErrAuth)
		}
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	if len(dataKey) != crypt.KeySize {
		return nil, fmt.Errorf("kms decrypt: %d bytes: %w", len(dataKey), crypt.ErrAuth)
	}
	return dataKey, nil
}

// dataKey unwraps the data key of an object at b from its metadata: with
// KMS when KMS wrapped it, else with the local KEKs.
func (fs *FS) dataKey(ctx context.Context, meta map[string]string, b crypt.Binding) ([]byte, error) {
	if isKMSWrapped(meta) {
		if fs.kms == nil {
			return nil, fmt.Errorf("data key wrapped by KMS: %w", crypt.ErrUnknownKEK)
		}
		return fs.kms.dataKey(ctx, meta, b)
	}
	if fs.keys == nil {
		return nil, crypt.ErrUnknownKEK
	}
	return fs.keys.DataKey(meta, b)
}

// wrap returns the metadata of data key dataKey for an object at b with id
// objectID, wrapped by the current key source: KMS when configured, else
// the current KEK.
func (fs *FS) wrap(ctx context.Context, dataKey []byte, b crypt.Binding, objectID string) (map[string]string, error) {
	switch {
	case fs.kms != nil:
		return fs.kms.wrap(ctx, dataKey, b, objectID)
	case fs.keys == nil || fs.keys.Current == nil:
		return nil, fmt.Errorf("wrap data key: %w", crypt.ErrUnknownKEK)
	}
	return fs.keys.Wrap(dataKey, b, objectID), nil
}

// rebind returns the metadata of an encrypted object at from with its data
// key wrapped for to instead (by the current key source), the rest of the
// metadata kept: a rename moves the binding, never the body. An object of
// format version 1 comes out as version 2 with no object id, its chunks as
// they were.
func (fs *FS) rebind(ctx context.Context, meta map[string]string, from, to crypt.Binding) (map[string]string, error) {
	dataKey, err := fs.dataKey(ctx, meta, from)
	if err != nil {
		return nil, err
	}
	keyMeta, err := fs.wrap(ctx, dataKey, to, crypt.MetaValue(meta, crypt.MetaObjectID))
	if err != nil {
		return nil, err
	}
	return crypt.WithDataKey(meta, keyMeta), nil
}
