package ops

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/store"
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

// Lines is the report of r for an operator: the counts, then what each key
// of the older versions still needs (files names a KEK's file by its id):
// rewrap cannot move those versions, only their expiry frees the key.
func (r RewrapResult) Lines(files map[string]string) []string {
	first := fmt.Sprintf("%d rewrapped, %d already under the current key, %d not envelope-encrypted", r.Rewrapped, r.Current, r.Plain)
	if r.Upgraded > 0 {
		first += fmt.Sprintf("; %d upgraded from format version 1", r.Upgraded)
	}
	lines := []string{first}
	for _, id := range slices.Sorted(maps.Keys(r.Older)) {
		n := r.Older[id]
		if arn, ok := strings.CutPrefix(id, "kms:"); ok {
			lines = append(lines, fmt.Sprintf("%d older versions still need KMS key %s; keep it enabled (never schedule its deletion) until they expire (lifecycle NoncurrentVersionExpiration)", n, arn))
			continue
		}
		file := files[id]
		if file == "" {
			file = "not in this config"
		}
		lines = append(lines, fmt.Sprintf("%d older versions still need old key %s (%s); keep it in old_kek_files until they expire (lifecycle NoncurrentVersionExpiration)", n, id, file))
	}
	if r.OlderV1 > 0 {
		lines = append(lines, fmt.Sprintf("%d older versions are in format version 1, whose data keys are bound to no file name; let them expire (lifecycle NoncurrentVersionExpiration)", r.OlderV1))
	}
	return lines
}

// Rewrap moves the data key of every envelope-encrypted object under prefix
// to the current key source: the KMS key when KMS is configured (from a
// KEK, or from another KMS key), else the current KEK; and an object of
// format version 1 to version 2 (rewrapper.move does each move). The
// data key is bound to the object's key in the home it lives in, one of
// homes (every user's home in bucket), as for a new write. Then it counts
// the noncurrent versions still needing an old key or in version 1. It goes
// on after a failure and returns the failures joined.
func (st Store) Rewrap(ctx context.Context, bucket, prefix string, homes []string) (RewrapResult, error) {
	var res RewrapResult
	current, err := st.FS.Sealing().CurrentKeyID(ctx)
	if err != nil {
		return res, fmt.Errorf("rewrap: %w", err)
	}
	rw := &rewrapper{st: st, bucket: bucket, homes: homes, current: current}
	var errs []error
	err = st.S3.Walk(ctx, bucket, prefix, func(o store.Object) {
		if objfmt.IsReserved(o.Key) { // the gateway's own, no partner's file: it holds no data key
			return
		}
		head, err := st.S3.Head(ctx, bucket, o.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("head s3://%s/%s: %w", bucket, o.Key, err))
			return
		}
		switch {
		case !objfmt.Encrypted(head.Metadata):
			res.Plain++
			return
		case rw.isCurrent(head.Metadata):
			res.Current++
			return
		}
		v1 := objfmt.MetaValue(head.Metadata, objfmt.MetaVersion) == objfmt.Version1
		home, err := rw.homeFor(o.Key, head.Metadata)
		if err == nil {
			err = rw.move(ctx, home, o.Key, head)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rewrap s3://%s/%s: %w", bucket, o.Key, err))
			return
		}
		res.Rewrapped++
		if v1 {
			res.Upgraded++
		}
	})
	if err != nil {
		return res, errors.Join(append(errs, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err))...)
	}
	res.Older, res.OlderV1, err = rw.olderVersions(ctx, prefix)
	return res, errors.Join(append(errs, err)...)
}

// rewrapper moves data keys of one bucket to the current key source.
type rewrapper struct {
	st      Store
	bucket  string
	homes   []string
	current string // MetaKEK of the current key: a KEK id, or "kms:" + ARN
}

// move moves the data key of one envelope-encrypted object (head, as just
// read) to the current key source, bound to key in home as for a new
// write, in the current format version (a version-1 object is upgraded;
// its body stays as it is). The move is a copy of the object onto itself
// that replaces its metadata and keeps its tags (a kept time), pinned to
// the ETag read, so the content is never rewritten by the gateway or
// changed meanwhile. An object over 5 GiB is copied part by part.
func (rw *rewrapper) move(ctx context.Context, home, key string, head store.Object) error {
	b := sealing.Binding(rw.bucket, home, key)
	meta, err := rw.st.FS.Sealing().Rebind(ctx, head.Metadata, b, b)
	if err != nil {
		return err
	}
	_, err = rw.st.FS.Objects().Copy(ctx, store.CopyRequest{
		Bucket: rw.bucket, From: key, To: key, IfMatch: head.ETag, Size: head.Size,
		Metadata: meta, ContentType: head.ContentType,
		PartsAbove: rw.st.selfCopyLimit, PartsMetadata: objfmt.UploadMarker(),
	})
	if err != nil {
		return fmt.Errorf("copy %s onto itself: %w", key, err)
	}
	return nil
}

// isCurrent reports whether an object needs no rewrap: its data key is
// wrapped by the current key, in the current format version.
func (rw *rewrapper) isCurrent(meta map[string]string) bool {
	return rw.underCurrentKey(meta) && objfmt.MetaValue(meta, objfmt.MetaVersion) == objfmt.Version
}

func (rw *rewrapper) underCurrentKey(meta map[string]string) bool {
	return objfmt.MetaValue(meta, objfmt.MetaKEK) == rw.current
}

// homeFor is the home whose binding object key's data key gets: the home
// key lies in. Homes never nest within a bucket (config refuses it), so at
// most one matches. A data key under KMS is refused first when the current
// key is a KEK: rewrap moves keys to KMS, never out of it.
func (rw *rewrapper) homeFor(key string, meta map[string]string) (string, error) {
	if id := objfmt.MetaValue(meta, objfmt.MetaKEK); !strings.HasPrefix(rw.current, objfmt.KMSPrefix) && objfmt.KMSWrapped(meta) {
		return "", fmt.Errorf("data key wrapped by %s, and kms_key_id is not set: rewrap moves keys to KMS, never out of it", id)
	}
	for _, home := range rw.homes {
		if strings.HasPrefix(key, home) {
			return home, nil
		}
	}
	return "", errors.New("in no user's home: no home to bind its data key to")
}

// olderVersions counts, by wrapping key, the noncurrent versions under
// prefix whose data key is not under the current key: one HEAD each. A
// bucket where versioning was never enabled has none, and costs one request.
func (rw *rewrapper) olderVersions(ctx context.Context, prefix string) (older map[string]int, v1 int, err error) {
	versioned, err := rw.st.S3.Versioned(ctx, rw.bucket)
	if err != nil {
		return nil, 0, fmt.Errorf("check older versions in s3://%s: %w", rw.bucket, err)
	}
	if !versioned {
		return nil, 0, nil
	}
	older = map[string]int{}
	var errs []error
	err = rw.st.S3.OlderVersions(ctx, rw.bucket, prefix, func(ov store.Object) {
		if err := rw.countOlder(ctx, ov, older, &v1); err != nil {
			errs = append(errs, err)
		}
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("list versions s3://%s/%s: %w", rw.bucket, prefix, err))
	}
	return older, v1, errors.Join(errs...)
}

// countOlder adds one noncurrent version to older when its data key is not
// under the current key, and to v1 when it is in format version 1.
func (rw *rewrapper) countOlder(ctx context.Context, ov store.Object, older map[string]int, v1 *int) error {
	head, err := rw.st.S3.HeadVersion(ctx, rw.bucket, ov.Key, ov.VersionID)
	if err != nil {
		return fmt.Errorf("head s3://%s/%s version %s: %w", rw.bucket, ov.Key, ov.VersionID, err)
	}
	if objfmt.Encrypted(head.Metadata) && !rw.underCurrentKey(head.Metadata) {
		older[objfmt.MetaValue(head.Metadata, objfmt.MetaKEK)]++
	}
	if objfmt.MetaValue(head.Metadata, objfmt.MetaVersion) == objfmt.Version1 {
		*v1++
	}
	return nil
}
