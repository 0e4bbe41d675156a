// Package crypt owns s3sftpd's gateway-side encryption formats: the chunked
// AES-256-GCM object format, the wrapping of per-object data keys by
// key-encryption keys, and the deterministic encryption of object names.
//
// It is pure: no I/O except reading key files, no S3, no global state. The
// object key is deliberately not bound into any ciphertext, so a rename is a
// metadata-preserving copy. README.md ("Envelope encryption format")
// describes the same format for independent decryptors; keep them in step.
package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
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

// nonce is the GCM nonce of chunk i: 3 zero bytes, i as a big-endian
// uint64, then 1 for the final chunk and 0 otherwise. Each data key
// encrypts one object only, so counter nonces never repeat under a key.
func nonce(dst *[nonceSize]byte, i int64, final bool) []byte {
	*dst = [nonceSize]byte{}
	binary.BigEndian.PutUint64(dst[3:11], uint64(i))
	if final {
		dst[11] = 1
	}
	return dst[:]
}

// Object encrypts and decrypts the chunks of one object under its data key.
type Object struct {
	aead cipher.AEAD
}

// NewObject returns the chunk cipher for a 32-byte data key.
func NewObject(dataKey []byte) (*Object, error) {
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
	return &Object{aead: aead}, nil
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
		panic("crypt: a non-final run of chunks must be whole chunks")
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
		o.aead.Seal(out[at:at], nonce(&nb, first+i, final && i == n-1), plain, nil)
	}
	return out
}

// Open decrypts stored bytes holding whole chunks first, first+1, … of an
// object whose final chunk has index finalIdx, appending the plaintext to
// dst. Any failure is ErrAuth and returns no plaintext.
func (o *Object) Open(dst, stored []byte, first, finalIdx int64) ([]byte, error) {
	var nb [nonceSize]byte
	start := len(dst)
	for i := int64(0); len(stored) > 0; i++ {
		idx := first + i
		n := min(len(stored), CipherChunkSize)
		if idx > finalIdx || (idx < finalIdx && n != CipherChunkSize) || n < Overhead {
			return dst[:start], fmt.Errorf("chunk %d: wrong length: %w", idx, ErrAuth)
		}
		var err error
		dst, err = o.aead.Open(dst, nonce(&nb, idx, idx == finalIdx), stored[:n], nil)
		if err != nil {
			return dst[:start], fmt.Errorf("chunk %d: %w", idx, ErrAuth)
		}
		stored = stored[n:]
	}
	return dst, nil
}
