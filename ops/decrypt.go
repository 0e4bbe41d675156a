package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// `s3sftpd decrypt` recovers plaintext with nothing but the store and the
// KEK (data is never trapped in the gateway).

// Decrypt writes the plaintext of one object to w. An envelope-encrypted
// object is authenticated chunk by chunk as it streams, and w gets only
// authenticated bytes; on a failure the error says so and w may hold a
// prefix of the plaintext. An object stored as plaintext is copied.
func (st Store) Decrypt(ctx context.Context, bucket, key string, w io.Writer) error {
	r, err := st.OpenPlaintext(ctx, bucket, key)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// OpenPlaintext opens the plaintext of one object, knowing no tenant: an
// envelope-encrypted object's data key is bound to the place its metadata
// records. It is authenticated chunk by chunk as it streams, and the reader
// yields only authenticated bytes, failing with an error that says so; an
// object stored as plaintext is read as it is, unless the FS is in
// envelope mode (every object must then be encrypted). The caller closes it.
func (st Store) OpenPlaintext(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := st.S3.Objects().Get(ctx, store.GetRequest{Bucket: bucket, Key: key})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	r, err := st.plaintext(ctx, bucket, key, out)
	if err != nil {
		out.Body.Close()
		return nil, fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{r, out.Body}, nil
}

func (st Store) plaintext(ctx context.Context, bucket, key string, out store.Reading) (io.Reader, error) {
	if !objfmt.Encrypted(out.Metadata) {
		if st.FS.Sealing().Envelope() {
			return nil, errors.New("object is not envelope-encrypted")
		}
		return out.Body, nil
	}
	b, err := objfmt.RecordedBinding(out.Metadata, bucket, key)
	if err != nil {
		return nil, err
	}
	dataKey, err := st.FS.Sealing().DataKey(ctx, out.Metadata, b)
	if err != nil {
		return nil, err
	}
	obj, err := objfmt.NewObject(dataKey, out.Metadata)
	if err != nil {
		return nil, err
	}
	return objfmt.NewReader(obj, out.Body, out.Size)
}

// StoredObject is one object under a prefix, with its client-visible name.
type StoredObject struct {
	Key  string // the object key
	Name string // the path below the prefix, names decrypted; "" if they do not decrypt
}

// ListObjects lists every object under prefix (directory markers left out).
// When names are encrypted, prefix must be a user's home: names below it are
// decrypted with that home's name key.
func (st Store) ListObjects(ctx context.Context, bucket, prefix string) ([]StoredObject, error) {
	name := st.FS.Sealing().NameDecoder(bucket, prefix)
	var out []StoredObject
	err := st.S3.Walk(ctx, bucket, prefix, func(o store.Object) {
		if strings.HasSuffix(o.Key, "/") || objfmt.IsReserved(o.Key) {
			return
		}
		segs := strings.Split(strings.TrimPrefix(o.Key, prefix), "/")
		for i, s := range segs {
			n, ok := name(s)
			if !ok {
				segs = nil
				break
			}
			segs[i] = n
		}
		out = append(out, StoredObject{Key: o.Key, Name: strings.Join(segs, "/")})
	})
	if err != nil {
		return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
	}
	return out, nil
}

// DecryptTree writes the plaintext of every object under prefix into dir,
// each under its client-visible name, to a temporary name first, so a file
// that fails its integrity check is never left as if whole. An object whose
// name does not decrypt, or would leave dir, is skipped. It goes on after a
// failure: written gets each name written, failed each failure. It returns
// the count of objects found, or the listing's error.
func (st Store) DecryptTree(ctx context.Context, bucket, prefix, dir string, written func(name string), failed func(error)) (int, error) {
	objs, err := st.ListObjects(ctx, bucket, prefix)
	if err != nil {
		return 0, err
	}
	for _, o := range objs {
		if err := st.decryptToFile(ctx, bucket, o, dir); err != nil {
			failed(err)
			continue
		}
		written(o.Name)
	}
	return len(objs), nil
}

func (st Store) decryptToFile(ctx context.Context, bucket string, o StoredObject, dir string) error {
	if o.Name == "" || !filepath.IsLocal(o.Name) {
		return fmt.Errorf("s3://%s/%s: its name does not decrypt or leaves the output directory; skipped", bucket, o.Key)
	}
	dst := filepath.Join(dir, filepath.FromSlash(o.Name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(dst+".partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = st.Decrypt(ctx, bucket, o.Key, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(dst+".partial", dst)
	}
	if err != nil {
		os.Remove(dst + ".partial")
	}
	return err
}
