package objfmt

import (
	"fmt"
	"io"
)

// Reader decrypts a whole stored object as it streams, one chunk at a
// time, and returns ErrAuth (never unauthenticated bytes) on tampering,
// including a stream that ends early or runs long.
type Reader struct {
	o        *Object
	r        io.Reader
	next     int64 // index of the next chunk to read
	epoch    uint8 // of the chunk read last: the next one's is not below it
	finalIdx int64
	buf      []byte
	plain    []byte // decrypted and not yet returned
	err      error
}

// NewReader decrypts r, the stored bytes of an object of cipherSize bytes.
func NewReader(o *Object, r io.Reader, cipherSize int64) (*Reader, error) {
	p, err := PlainSize(cipherSize)
	if err != nil {
		return nil, err
	}
	return &Reader{o: o, r: r, finalIdx: Chunks(p) - 1, buf: make([]byte, CipherChunkSize)}, nil
}

func (d *Reader) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.fill()
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// fill decrypts the next chunk, or sets err (io.EOF after the final chunk).
func (d *Reader) fill() {
	if d.next > d.finalIdx {
		var one [1]byte
		if n, _ := io.ReadFull(d.r, one[:]); n > 0 {
			d.err = fmt.Errorf("data after the final chunk: %w", ErrAuth)
			return
		}
		d.err = io.EOF
		return
	}
	n, err := io.ReadFull(d.r, d.buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		d.err = fmt.Errorf("read chunk %d: %w", d.next, err)
		return
	}
	plain, e, err := d.o.open(d.buf[:0:0], d.buf[:n], d.next, d.finalIdx, d.epoch, false)
	d.epoch = e
	if err != nil {
		d.err = err
		return
	}
	d.plain = plain
	d.next++
}
