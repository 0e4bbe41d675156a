package s3fs

import (
	"context"
	"errors"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// The keys and names the operator tools (package ops: decrypt, rewrap)
// need, on objects named by bucket and key, outside any session: only the
// FS holds the KEKs, the KMS client and the name key. The tools do their
// own reads, copies, listing and reporting, through store.

// Envelope reports whether every object must be envelope-encrypted: an
// object stored as plaintext is then refused, even by decrypt.
func (fs *FS) Envelope() bool { return fs.envelope }

// DataKey unwraps the data key of an envelope-encrypted object whose
// metadata is meta and which lives at b: with KMS when KMS wrapped it,
// else with the KEKs.
func (fs *FS) DataKey(ctx context.Context, meta map[string]string, b objfmt.Binding) ([]byte, error) {
	return fs.dataKeys().DataKey(ctx, meta, b)
}

// Rebind is the metadata of an envelope-encrypted object at from with its
// data key wrapped by the current key source for to (which may be from), in
// the current format version; the rest of the metadata is kept.
func (fs *FS) Rebind(ctx context.Context, meta map[string]string, from, to objfmt.Binding) (map[string]string, error) {
	return fs.dataKeys().Rebind(ctx, meta, from, to)
}

// HomeBinding is where key lives in home of bucket, as a new write there
// binds its data key.
func HomeBinding(bucket, home, key string) objfmt.Binding {
	return binding(&auth.Tenant{Bucket: bucket, Prefix: home}, key)
}

// NameDecoder returns the decoder of the stored path segments under home in
// bucket, for decrypt's listing (ops.Store.ListObjects): a segment's client-visible name, or ok false for a segment that is
// not an encrypted name of that home. With plain names it returns each
// segment as it is.
func (fs *FS) NameDecoder(bucket, home string) func(segment string) (name string, ok bool) {
	return vfs.Mount{Bucket: bucket, Prefix: home, Names: fs.names(&auth.Tenant{Bucket: bucket, Prefix: home})}.Name
}

// CurrentKeyID is the MetaKEK of the key new data keys are wrapped by, for
// rewrap (ops.Store.Rewrap) to tell which objects are current: "kms:" and
// the ARN of the KMS key when KMS is configured, else the current KEK's id;
// an error when neither is.
func (fs *FS) CurrentKeyID(ctx context.Context) (string, error) {
	switch {
	case fs.kms != nil:
		arn, err := fs.kms.KeyARN(ctx)
		if err != nil {
			return "", err
		}
		return objfmt.KMSPrefix + arn, nil
	case fs.keys == nil || fs.keys.Current == nil:
		return "", errors.New("no key-encryption key configured")
	}
	return fs.keys.Current.ID, nil
}
