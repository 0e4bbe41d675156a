package objfmt

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
)

const (
	// ChunkSize is the plaintext payload of every chunk but the final one.
	ChunkSize = 64 << 10
	// Overhead is the GCM tag each chunk adds.
	Overhead = 16
	// CipherChunkSize is the stored size of a full chunk.
	CipherChunkSize = ChunkSize + Overhead
	// KeySize is the size of data keys, KEKs and name keys (AES-256).
	KeySize   = 32
	nonceSize = 12
)

// ErrAuth means stored ciphertext failed authentication: it was altered,
// truncated, reordered, spliced or opened with the wrong key. Never return
// any of its bytes.
var ErrAuth = errors.New("encrypted data failed authentication")

// CipherSize is the stored size of a plaintext of size p. The final chunk
// always holds less than ChunkSize bytes (possibly none), so every object
// has exactly one final chunk, even an empty one or one whose size is a
// multiple of ChunkSize.
func CipherSize(p int64) int64 {
	return p + Overhead*(p/ChunkSize+1)
}

// PlainSize is the plaintext size of a stored object of c bytes. The
// stored final chunk holds Overhead to CipherChunkSize-1 bytes, so a c whose
// remainder modulo CipherChunkSize is below Overhead is no object's size
// (such an object was cut, or is not in this format).
func PlainSize(c int64) (int64, error) {
	full := c / CipherChunkSize // chunks before the final one
	if c < 0 || c%CipherChunkSize < Overhead {
		return 0, fmt.Errorf("no encrypted object is %d bytes long: %w", c, ErrAuth)
	}
	return c - Overhead*(full+1), nil
}

// Chunks returns how many chunks an object of plaintext size p has; the
// final chunk's index is Chunks(p)-1.
func Chunks(p int64) int64 { return p/ChunkSize + 1 }

// Span is a run of whole chunks [First, Last] and the stored bytes holding
// them, [From, To] inclusive as in an HTTP Range header.
type Span struct {
	First, Last int64
	From, To    int64
}

// SpanOf returns the chunks that hold plaintext bytes [off, off+n) of an
// object of plaintext size size. n is clipped to the end; n ≤ 0 or off ≥
// size yields the final chunk alone, the smallest valid read.
func SpanOf(off, n, size int64) Span {
	last := Chunks(size) - 1
	first := min(off/ChunkSize, last)
	end := min(off+n, size)
	lastNeeded := first
	if end > off {
		lastNeeded = min((end-1)/ChunkSize, last)
	}
	return Span{
		First: first, Last: lastNeeded,
		From: first * CipherChunkSize,
		To:   min((lastNeeded+1)*CipherChunkSize, CipherSize(size)) - 1,
	}
}

// MaxEpoch is the last epoch of a version-2 object: it may be resumed
// MaxEpoch times.
const MaxEpoch = 255

// ErrEpochs means an object was resumed as often as its nonces allow.
var ErrEpochs = errors.New("object resumed too many times")

// nonce is the GCM nonce of chunk i sealed in epoch e: 2 zero bytes, e, i as
// a big-endian uint64, then 1 for the final chunk and 0 otherwise. Each data
// key encrypts one object only, and each resume of an upload seals in a new
// epoch, so a chunk index encrypted again after a disconnect (a part in
// flight may still have landed) never repeats a nonce. Version 1 has no
// resumes: its epoch is always 0.
func nonce(dst *[nonceSize]byte, e uint8, i int64, final bool) []byte {
	*dst = [nonceSize]byte{}
	dst[2] = e
	binary.BigEndian.PutUint64(dst[3:11], uint64(i))
	if final {
		dst[11] = 1
	}
	return dst[:]
}

// Object encrypts and decrypts the chunks of one object under its data key.
type Object struct {
	aead     cipher.AEAD
	aad      []byte // additional data of every chunk: nil but for objects written as version 2
	epoch    uint8  // the epoch new chunks are sealed in
	maxEpoch uint8  // the highest epoch a stored chunk may have
	// hint is the epoch of the chunk opened last, where the search for the
	// next chunk's epoch starts (reads of one object may run concurrently).
	hint *atomic.Uint32
}

// NewObject returns the chunk cipher of an object from its 32-byte data key
// and its metadata: the format version, and the object id that version-2
// chunks are bound to (objects rewrap upgraded from version 1 have none).
func NewObject(dataKey []byte, meta map[string]string) (*Object, error) {
	var aad []byte
	var maxEpoch uint8
	switch v := MetaValue(meta, MetaVersion); v {
	case Version1:
	case Version:
		id := MetaValue(meta, MetaObjectID)
		if !validObjectID(id) {
			return nil, fmt.Errorf("object id %q: %w", id, ErrAuth)
		}
		if id != "" {
			aad, maxEpoch = chunkAAD(id), MaxEpoch
		}
	default:
		return nil, fmt.Errorf("unsupported encryption format version %q", v)
	}
	if len(dataKey) != KeySize {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(dataKey), KeySize)
	}
	block, err := aes.NewCipher(dataKey)
	if err != nil {
		return nil, fmt.Errorf("new aes cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new gcm: %w", err)
	}
	return &Object{aead: aead, aad: aad, maxEpoch: maxEpoch, hint: new(atomic.Uint32)}, nil
}

// chunkAAD is the additional data of a version-2 chunk: it ties the body to
// the object id its metadata carries, which the data key's wrapping binds.
func chunkAAD(objectID string) []byte { return []byte("s3sftpd-chunk-v2\x00" + objectID) }

// Resumed returns the cipher that seals the chunks of a resumed upload: the
// next epoch, or ErrEpochs when none is left.
func (o *Object) Resumed() (*Object, error) {
	if o.epoch >= o.maxEpoch {
		return nil, ErrEpochs
	}
	r := *o
	r.epoch++
	return &r, nil
}

// SealInPlace encrypts buf, the plaintext of chunks first, first+1, … and
// returns the ciphertext, reusing buf's memory when its capacity allows.
// Unless final, len(buf) must be a multiple of ChunkSize; with final the
// last chunk of buf is marked final (and is empty when len(buf) is a
// multiple of ChunkSize).
func (o *Object) SealInPlace(buf []byte, first int64, final bool) []byte {
	p := int64(len(buf))
	full := p / ChunkSize
	if !final && p%ChunkSize != 0 {
		panic("objfmt: a non-final run of chunks must be whole chunks")
	}
	n := full
	if final {
		n = full + 1
	}
	need := p + Overhead*n
	var out []byte
	if int64(cap(buf)) >= need {
		out = buf[:need]
	} else {
		out = make([]byte, need)
	}
	// Work backwards: chunk i's ciphertext lands at or after its plaintext
	// and overlaps only later chunks' plaintext, already sealed by then.
	var tmp [ChunkSize]byte
	var nb [nonceSize]byte
	for i := n - 1; i >= 0; i-- {
		from, to := i*ChunkSize, min((i+1)*ChunkSize, p)
		plain := tmp[:to-from]
		copy(plain, buf[from:to])
		at := i * CipherChunkSize
		o.aead.Seal(out[at:at], nonce(&nb, o.epoch, first+i, final && i == n-1), plain, o.aad)
	}
	return out
}

// Open decrypts stored bytes holding whole chunks first, first+1, … of an
// object whose final chunk has index finalIdx, appending the plaintext to
// dst. Any failure is ErrAuth and returns no plaintext.
//
// A chunk's epoch is not stored: Open tries the epoch of the chunk opened
// last first (an upload never resumed has only epoch 0, so one try), and
// within one call a chunk's epoch is never below its predecessor's, as
// resumes only go forward in the file.
func (o *Object) Open(dst, stored []byte, first, finalIdx int64) ([]byte, error) {
	dst, e, err := o.open(dst, stored, first, finalIdx, uint8(min(o.hint.Load(), uint32(o.maxEpoch))), true)
	if err == nil {
		o.hint.Store(uint32(e))
	}
	return dst, err
}

// open is Open starting at epoch e, and returns the epoch of the last chunk;
// unless anywhere, the first chunk's epoch may not be below e either.
func (o *Object) open(dst, stored []byte, first, finalIdx int64, e uint8, anywhere bool) ([]byte, uint8, error) {
	start := len(dst)
	for i := int64(0); len(stored) > 0; i++ {
		idx := first + i
		n := min(len(stored), CipherChunkSize)
		if idx > finalIdx || (idx < finalIdx && n != CipherChunkSize) || n < Overhead {
			return dst[:start], e, fmt.Errorf("chunk %d: wrong length: %w", idx, ErrAuth)
		}
		var err error
		dst, e, err = o.openChunk(dst, stored[:n], idx, idx == finalIdx, e, anywhere && i == 0)
		if err != nil {
			return dst[:start], e, fmt.Errorf("chunk %d: %w", idx, ErrAuth)
		}
		stored = stored[n:]
	}
	return dst, e, nil
}

// openChunk opens one chunk trying epochs from e up to maxEpoch, then, when
// anywhere is allowed (the first chunk of a read), those below e. It returns
// the epoch that opened it.
func (o *Object) openChunk(dst, chunk []byte, idx int64, final bool, e uint8, anywhere bool) ([]byte, uint8, error) {
	var nb [nonceSize]byte
	try := func(e uint8) (out []byte, ok bool) {
		out, err := o.aead.Open(dst, nonce(&nb, e, idx, final), chunk, o.aad)
		return out, err == nil
	}
	for t := int(e); t <= int(o.maxEpoch); t++ {
		if out, ok := try(uint8(t)); ok {
			return out, uint8(t), nil
		}
	}
	for t := int(e) - 1; anywhere && t >= 0; t-- {
		if out, ok := try(uint8(t)); ok {
			return out, uint8(t), nil
		}
	}
	return dst, e, ErrAuth
}
