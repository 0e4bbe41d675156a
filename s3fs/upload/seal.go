package upload

import (
	"context"
	"fmt"

	"github.com/s3sftpd/s3sftpd/objfmt"
)

// envelopePartCap is the largest plaintext part whose ciphertext fits S3's
// 5 GiB part limit, a whole number of chunks.
const envelopePartCap = MaxPartSize / objfmt.CipherChunkSize * objfmt.ChunkSize

// Keys makes and wraps the data keys of new objects: KMS, or the local KEK
// (s3fs's key source).
type Keys interface {
	// NewDataKey is a data key for a new object at b, and the metadata that
	// stores it wrapped.
	NewDataKey(ctx context.Context, b objfmt.Binding) (dataKey []byte, meta map[string]string, err error)
	// Wrap is the metadata of dataKey wrapped for an object at b with id objectID.
	Wrap(ctx context.Context, dataKey []byte, b objfmt.Binding, objectID string) (map[string]string, error)
}

// Sealer encrypts one new object: its chunk cipher, and the metadata that
// stores its wrapped data key, bound to the key the object is made under.
type Sealer struct {
	keys    Keys
	stage   *Seal // the upload's stage that seals the chunks
	meta    map[string]string
	dataKey []byte // kept to bind meta again if the upload moves to another key
}

// NewSealer is the cipher of a new object at b, its data key from keys.
func NewSealer(ctx context.Context, keys Keys, b objfmt.Binding) (*Sealer, error) {
	dataKey, meta, err := keys.NewDataKey(ctx, b)
	if err != nil {
		return nil, err
	}
	obj, err := objfmt.NewObject(dataKey, meta)
	if err != nil {
		return nil, fmt.Errorf("new data key: %w", err)
	}
	return &Sealer{keys: keys, stage: NewSeal(obj), meta: meta, dataKey: dataKey}, nil
}

// bindTo wraps the data key for b instead: a temporary file's upload
// moves to its final key before anything is stored.
func (s *Sealer) bindTo(ctx context.Context, b objfmt.Binding) error {
	if s == nil {
		return nil
	}
	keyMeta, err := s.keys.Wrap(ctx, s.dataKey, b, objfmt.MetaValue(s.meta, objfmt.MetaObjectID))
	if err != nil {
		return err
	}
	s.meta = keyMeta
	return nil
}

// resume makes the sealer seal in the next epoch, so chunks sealed again
// after a disconnect (a part in flight then may still have landed) never
// reuse a nonce.
func (s *Sealer) resume() error {
	if s == nil {
		return nil
	}
	return s.stage.NextEpoch()
}
