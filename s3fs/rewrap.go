package s3fs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/crypt"
)

// RewrapResult counts what a rewrap did.
type RewrapResult struct {
	Rewrapped, Current, Plain int
	Upgraded                  int // of Rewrapped, those that were in format version 1
	// Older counts the noncurrent versions (in a versioned bucket) whose
	// data key is wrapped by another key than the current one, by that
	// key's id (MetaKEK: a KEK id, or "kms:" + ARN). Rewrap cannot move
	// them: copying a version would make it current again.
	Older map[string]int
	// OlderV1 counts the noncurrent versions in format version 1: bound
	// to no name, they decrypt under any name they are copied to (with a
	// KEK) until they expire.
	OlderV1 int
}

// Rewrap moves the data key of every envelope-encrypted object under prefix
// to the current key source: the KMS key when KMS is configured (from a
// KEK, or from another KMS key), else the current KEK; and an object of
// format version 1 to version 2. Each move is a copy of the object onto
// itself that replaces its metadata, pinned to the ETag read, so the
// content is never rewritten by the gateway or changed meanwhile. The data
// key is bound to the object's key in the home it lives in, one of homes
// (every user's home in bucket), as for a new write. Then it counts the
// noncurrent versions still needing an old key or in version 1. It goes on
// after a failure and returns the failures joined.
func (fs *FS) Rewrap(ctx context.Context, bucket, prefix string, homes []string) (RewrapResult, error) {
	var res RewrapResult
	rw, err := fs.newRewrapper(ctx, bucket, homes)
	if err != nil {
		return res, err
	}
	var errs []error
	p := s3.NewListObjectsV2Paginator(fs.s3, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return res, errors.Join(append(errs, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err))...)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			head, err := fs.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				errs = append(errs, fmt.Errorf("head s3://%s/%s: %w", bucket, key, err))
				continue
			}
			switch {
			case !crypt.Encrypted(head.Metadata):
				res.Plain++
				continue
			case rw.isCurrent(head.Metadata):
				res.Current++
				continue
			}
			v1 := crypt.MetaValue(head.Metadata, crypt.MetaVersion) == crypt.Version1
			meta, err := rw.rewrapped(ctx, key, head.Metadata)
			if err == nil {
				err = fs.replaceMetadata(ctx, bucket, key, aws.ToInt64(head.ContentLength), head.ETag, meta)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rewrap s3://%s/%s: %w", bucket, key, err))
				continue
			}
			res.Rewrapped++
			if v1 {
				res.Upgraded++
			}
		}
	}
	res.Older, res.OlderV1, err = rw.olderVersions(ctx, prefix)
	return res, errors.Join(append(errs, err)...)
}

// rewrapper moves data keys of one bucket to the current key source.
type rewrapper struct {
	fs     *FS
	bucket string
	homes  []string
	kmsID  string // MetaKEK of the current KMS key; "" when the current key is a KEK
}

func (fs *FS) newRewrapper(ctx context.Context, bucket string, homes []string) (*rewrapper, error) {
	rw := &rewrapper{fs: fs, bucket: bucket, homes: homes}
	switch {
	case fs.kms != nil:
		arn, err := fs.kms.keyARN(ctx)
		if err != nil {
			return nil, fmt.Errorf("rewrap: %w", err)
		}
		rw.kmsID = kmsPrefix + arn
	case fs.keys == nil || fs.keys.Current == nil:
		return nil, fmt.Errorf("rewrap: no key-encryption key configured")
	}
	return rw, nil
}

// isCurrent reports whether an object needs no rewrap: its data key is
// wrapped by the current key, in the current format version.
func (rw *rewrapper) isCurrent(meta map[string]string) bool {
	return rw.underCurrentKey(meta) && crypt.MetaValue(meta, crypt.MetaVersion) == crypt.Version
}

func (rw *rewrapper) underCurrentKey(meta map[string]string) bool {
	id := crypt.MetaValue(meta, crypt.MetaKEK)
	if rw.kmsID != "" {
		return id == rw.kmsID
	}
	return id == rw.fs.keys.Current.ID
}

// rewrapped returns the metadata of object key with its data key wrapped
// by the current key source and bound to where it lives, in the current
// format version (a version-1 object is upgraded; its body stays as it is).
func (rw *rewrapper) rewrapped(ctx context.Context, key string, meta map[string]string) (map[string]string, error) {
	if rw.kmsID == "" && isKMSWrapped(meta) {
		return nil, fmt.Errorf("data key wrapped by %s, and kms_key_id is not set: rewrap moves keys to KMS, never out of it", crypt.MetaValue(meta, crypt.MetaKEK))
	}
	b, ok := rw.bindingOf(key)
	if !ok {
		return nil, errors.New("in no user's home: no home to bind its data key to")
	}
	return rw.fs.rebind(ctx, meta, b, b)
}

// bindingOf is the binding of key in the home it lies in. Homes never nest
// within a bucket (config refuses it), so at most one matches.
func (rw *rewrapper) bindingOf(key string) (crypt.Binding, bool) {
	for _, home := range rw.homes {
		if strings.HasPrefix(key, home) {
			return binding(&auth.Tenant{Bucket: rw.bucket, Prefix: home}, key), true
		}
	}
	return crypt.Binding{}, false
}

// olderVersions counts, by wrapping key, the noncurrent versions under
// prefix whose data key is not under the current key: one HEAD each. A
// bucket where versioning was never enabled has none, and costs one request.
func (rw *rewrapper) olderVersions(ctx context.Context, prefix string) (older map[string]int, v1 int, err error) {
	v, err := rw.fs.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &rw.bucket})
	if err != nil {
		return nil, 0, fmt.Errorf("check older versions in s3://%s: %w", rw.bucket, err)
	}
	if v.Status == "" {
		return nil, 0, nil
	}
	older = map[string]int{}
	var errs []error
	in := &s3.ListObjectVersionsInput{Bucket: &rw.bucket, Prefix: &prefix}
	for {
		page, err := rw.fs.s3.ListObjectVersions(ctx, in)
		if err != nil {
			return older, v1, errors.Join(append(errs, fmt.Errorf("list versions s3://%s/%s: %w", rw.bucket, prefix, err))...)
		}
		for _, ov := range page.Versions {
			if aws.ToBool(ov.IsLatest) {
				continue
			}
			if err := rw.countOlder(ctx, ov, older, &v1); err != nil {
				errs = append(errs, err)
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return older, v1, errors.Join(errs...)
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
}

// countOlder adds one noncurrent version to older when its data key is not
// under the current key, and to v1 when it is in format version 1.
func (rw *rewrapper) countOlder(ctx context.Context, ov types.ObjectVersion, older map[string]int, v1 *int) error {
	head, err := rw.fs.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &rw.bucket, Key: ov.Key, VersionId: ov.VersionId})
	if err != nil {
		return fmt.Errorf("head s3://%s/%s version %s: %w", rw.bucket, aws.ToString(ov.Key), aws.ToString(ov.VersionId), err)
	}
	if crypt.Encrypted(head.Metadata) && !rw.underCurrentKey(head.Metadata) {
		older[crypt.MetaValue(head.Metadata, crypt.MetaKEK)]++
	}
	if crypt.MetaValue(head.Metadata, crypt.MetaVersion) == crypt.Version1 {
		*v1++
	}
	return nil
}
