package s3fs

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/crypt"
)

// The operator tools of gateway-side encryption: `s3sftpd decrypt` recovers
// plaintext with nothing but the store and the KEK (data is never trapped
// in the gateway), `s3sftpd rewrap` moves data keys to the current KEK.

// DecryptObject writes the plaintext of one object to w. An envelope-
// encrypted object is authenticated chunk by chunk as it streams, and w
// gets only authenticated bytes; on a failure the error says so and w may
// hold a prefix of the plaintext. An object stored as plaintext is copied.
func (fs *FS) DecryptObject(ctx context.Context, bucket, key string, w io.Writer) error {
	out, err := fs.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	var r io.Reader = out.Body
	if crypt.Encrypted(out.Metadata) {
		b, err := recordedBinding(out.Metadata, bucket, key)
		if err != nil {
			return fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
		}
		dataKey, err := fs.dataKey(ctx, out.Metadata, b)
		if err != nil {
			return fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
		}
		obj, err := crypt.NewObject(dataKey, out.Metadata)
		if err != nil {
			return fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
		}
		if r, err = crypt.NewReader(obj, out.Body, aws.ToInt64(out.ContentLength)); err != nil {
			return fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
		}
	} else if fs.envelope {
		return fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, errNotEncrypted)
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// recordedBinding is the binding of an object read by a tool that knows no
// tenant: from version 2, bucket and key with the home its metadata records
// (the unwrap proves it); in version 1, the tenant a KMS data key was
// wrapped for, and nothing for a KEK.
func recordedBinding(meta map[string]string, bucket, key string) (crypt.Binding, error) {
	if crypt.MetaValue(meta, crypt.MetaVersion) != crypt.Version1 {
		return crypt.BindingOf(meta, bucket, key)
	}
	b, home, _ := strings.Cut(crypt.MetaValue(meta, metaContext), "/")
	return crypt.Binding{Bucket: b, Home: home}, nil
}

// StoredObject is one object under a prefix, with its client-visible name.
type StoredObject struct {
	Key  string // the object key
	Name string // the path below the prefix, names decrypted; "" if they do not decrypt
}

// ListObjects lists every object under prefix (directory markers left out).
// When names are encrypted, prefix must be a user's home: names below it are
// decrypted with that home's name key.
func (fs *FS) ListObjects(ctx context.Context, bucket, prefix string) ([]StoredObject, error) {
	j := jail{prefix: prefix, names: fs.names(&auth.Tenant{Bucket: bucket, Prefix: prefix})}
	var out []StoredObject
	p := s3.NewListObjectsV2Paginator(fs.s3, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") {
				continue
			}
			segs := strings.Split(strings.TrimPrefix(key, prefix), "/")
			for i, s := range segs {
				name, ok := j.name(s)
				if !ok {
					segs = nil
					break
				}
				segs[i] = name
			}
			out = append(out, StoredObject{Key: key, Name: strings.Join(segs, "/")})
		}
	}
	return out, nil
}

// replaceMetadata copies an object of bucket onto itself with new metadata,
// pinned to etag.
func (fs *FS) replaceMetadata(ctx context.Context, bucket, key string, size int64, etag *string, meta map[string]string) error {
	if size > maxPartSize {
		return fs.multipartCopyWith(ctx, bucket, key, key, size, etag, meta, nil) // envelope objects carry no SHA-256 tag
	}
	src := copySource(bucket, key)
	_, err := fs.s3.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &bucket, Key: &key, CopySource: &src, CopySourceIfMatch: etag,
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta,
		ServerSideEncryption: fs.enc.mode(), SSEKMSKeyId: fs.enc.keyID(),
	})
	if err != nil {
		return fmt.Errorf("copy %s onto itself: %w", key, err)
	}
	return nil
}
