package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/s3sftpd/s3sftpd/store"
)

// AuditShipper stores closed segments of the audit trail in a bucket that no
// partner can reach (config refuses a prefix inside a home), encrypted like
// every other object (the store's server-side encryption). It implements
// audit.Shipper.
type AuditShipper struct {
	st     *store.Store
	bucket string
	prefix string
}

// NewAuditShipper returns a shipper writing to bucket under prefix through st.
func NewAuditShipper(st *store.Store, bucket, prefix string) *AuditShipper {
	return &AuditShipper{st: st, bucket: bucket, prefix: prefix}
}

// Ship stores segment as prefix+name. A segment is never overwritten: if the
// name exists already (a retry after a lost answer), Ship succeeds only when
// the stored bytes are the same.
func (a *AuditShipper) Ship(ctx context.Context, name string, segment []byte) error {
	key := a.prefix + name
	err := a.st.PutNew(ctx, a.bucket, key, segment, "application/x-ndjson")
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("store audit segment s3://%s/%s: %w", a.bucket, key, err)
	}
	stored, gerr := a.st.Get(ctx, a.bucket, key)
	if gerr != nil {
		return fmt.Errorf("store audit segment s3://%s/%s: exists, and reading it back failed: %w", a.bucket, key, gerr)
	}
	defer stored.Close()
	got, gerr := io.ReadAll(io.LimitReader(stored, int64(len(segment))+1))
	if gerr != nil {
		return fmt.Errorf("store audit segment s3://%s/%s: exists, and reading it back failed: %w", a.bucket, key, gerr)
	}
	if !bytes.Equal(got, segment) {
		return fmt.Errorf("store audit segment s3://%s/%s: a different object already has this name", a.bucket, key)
	}
	return nil
}
