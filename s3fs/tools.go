package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// The object-format operations the operator tools (package ops: decrypt,
// rewrap) need, on objects named by bucket and key, outside any session.
// They are FS methods because they need the FS's keys, KMS and server-side
// encryption; the tools do their own listing and reporting.

// OpenPlaintext opens the plaintext of one object, for `s3sftpd decrypt`
// (ops.Store.Decrypt), which knows no tenant. An envelope-encrypted
// object is authenticated chunk by chunk as it streams, and the reader
// yields only authenticated bytes, failing with an error that says so; an
// object stored as plaintext is read as it is, unless fs is in envelope
// mode (every object must then be encrypted). The caller closes it.
func (fs *FS) OpenPlaintext(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := fs.obj.Get(ctx, store.GetRequest{Bucket: bucket, Key: key})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	r, err := fs.plaintext(ctx, bucket, key, out)
	if err != nil {
		out.Body.Close()
		return nil, fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{r, out.Body}, nil
}

func (fs *FS) plaintext(ctx context.Context, bucket, key string, out store.Reading) (io.Reader, error) {
	if !objfmt.Encrypted(out.Metadata) {
		if fs.envelope {
			return nil, errNotEncrypted
		}
		return out.Body, nil
	}
	b, err := objfmt.RecordedBinding(out.Metadata, bucket, key)
	if err != nil {
		return nil, err
	}
	dataKey, err := fs.dataKeys().DataKey(ctx, out.Metadata, b)
	if err != nil {
		return nil, err
	}
	obj, err := objfmt.NewObject(dataKey, out.Metadata)
	if err != nil {
		return nil, err
	}
	return objfmt.NewReader(obj, out.Body, out.Size)
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

// RewrapObject is rewrap's move of one object (ops.Store.Rewrap lists and
// counts): it moves the data key of one envelope-encrypted object (of size
// bytes, with etag and metadata meta as just read) to the current key
// source, bound to key in home as for a new write, in the current format
// version (a version-1 object is upgraded; its body stays as it is). The
// move is a copy of the object onto itself that replaces its metadata,
// pinned to etag, so the content is never rewritten by the gateway or
// changed meanwhile. The caller refuses a move out of KMS (ops.Store.Rewrap).
func (fs *FS) RewrapObject(ctx context.Context, bucket, home, key string, size int64, etag string, meta map[string]string) error {
	b := binding(&auth.Tenant{Bucket: bucket, Prefix: home}, key)
	newMeta, err := fs.dataKeys().Rebind(ctx, meta, b, b)
	if err != nil {
		return err
	}
	return fs.replaceMetadata(ctx, bucket, key, size, etag, newMeta)
}

// replaceMetadata copies an object of bucket onto itself with new metadata,
// pinned to etag, keeping its tags (a kept mtime) however large it is.
func (fs *FS) replaceMetadata(ctx context.Context, bucket, key string, size int64, etag string, meta map[string]string) error {
	_, err := fs.obj.Copy(ctx, store.CopyRequest{
		Bucket: bucket, From: key, To: key, IfMatch: etag, Size: size, Metadata: meta,
		PartsAbove: fs.selfCopyLimit, PartsMetadata: objfmt.UploadMarker(),
	})
	if err != nil {
		return fmt.Errorf("copy %s onto itself: %w", key, err)
	}
	return nil
}
