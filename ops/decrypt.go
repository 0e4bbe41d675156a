package ops

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// `s3sftpd decrypt` recovers plaintext with nothing but the store and the
// KEK (data is never trapped in the gateway).

// Decrypt writes the plaintext of one object to w. An envelope-encrypted
// object is authenticated chunk by chunk as it streams, and w gets only
// authenticated bytes; on a failure the error says so and w may hold a
// prefix of the plaintext. An object stored as plaintext is copied.
func (st Store) Decrypt(ctx context.Context, bucket, key string, w io.Writer) error {
	r, err := st.FS.OpenPlaintext(ctx, bucket, key)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("decrypt s3://%s/%s: %w", bucket, key, err)
	}
	return nil
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
	name := st.FS.NameDecoder(bucket, prefix)
	var out []StoredObject
	p := s3.NewListObjectsV2Paginator(st.S3, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
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
				n, ok := name(s)
				if !ok {
					segs = nil
					break
				}
				segs[i] = n
			}
			out = append(out, StoredObject{Key: key, Name: strings.Join(segs, "/")})
		}
	}
	return out, nil
}
