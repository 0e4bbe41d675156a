package crypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func newTestObject(t testing.TB) *Object {
	t.Helper()
	key := make([]byte, KeySize)
	rand.Read(key)
	o, err := NewObject(key)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func seal(o *Object, plain []byte) []byte {
	return o.SealInPlace(bytes.Clone(plain), 0, true)
}

func open(o *Object, stored []byte) ([]byte, error) {
	r, err := NewReader(o, bytes.NewReader(stored), int64(len(stored)))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestObject_RoundTrip(t *testing.T) {
	o := newTestObject(t)
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize, 3*ChunkSize + 77} {
		plain := make([]byte, n)
		rand.Read(plain)
		stored := seal(o, plain)
		if got, want := int64(len(stored)), CipherSize(int64(n)); got != want {
			t.Errorf("size %d: stored %d bytes; want %d", n, got, want)
		}
		got, err := open(o, stored)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("size %d: round trip = %d bytes, %v; want the plaintext", n, len(got), err)
		}
	}
}

// TestObject_SealInParts checks that parts sealed independently (as the
// upload does, part by part in parallel) form one valid object.
func TestObject_SealInParts(t *testing.T) {
	o := newTestObject(t)
	plain := make([]byte, 5*ChunkSize+123)
	rand.Read(plain)
	var stored []byte
	stored = append(stored, o.SealInPlace(bytes.Clone(plain[:2*ChunkSize]), 0, false)...)
	stored = append(stored, o.SealInPlace(bytes.Clone(plain[2*ChunkSize:4*ChunkSize]), 2, false)...)
	stored = append(stored, o.SealInPlace(bytes.Clone(plain[4*ChunkSize:]), 4, true)...)
	got, err := open(o, stored)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("parts sealed apart = %d bytes, %v; want the plaintext", len(got), err)
	}
}

func TestObject_Tamper(t *testing.T) {
	o := newTestObject(t)
	plain := make([]byte, 4*ChunkSize+1000)
	rand.Read(plain)
	stored := seal(o, plain)
	c := CipherChunkSize
	other := seal(newTestObject(t), plain)
	cases := map[string][]byte{
		"flip-byte":         func() []byte { b := bytes.Clone(stored); b[c+5] ^= 1; return b }(),
		"flip-tag":          func() []byte { b := bytes.Clone(stored); b[len(b)-1] ^= 0x80; return b }(),
		"drop-chunk":        append(bytes.Clone(stored[:c]), stored[2*c:]...),
		"drop-final-chunk":  bytes.Clone(stored[:4*c]),
		"truncate-mid":      bytes.Clone(stored[:len(stored)-10]),
		"truncate-to-chunk": bytes.Clone(stored[:2*c]),
		"swap-chunks":       append(append(append(bytes.Clone(stored[:c]), stored[2*c:3*c]...), stored[c:2*c]...), stored[3*c:]...),
		"append-byte":       append(bytes.Clone(stored), 0),
		"duplicate-chunk":   append(bytes.Clone(stored[:c]), stored...),
		"other-object":      other,
		"splice":            append(bytes.Clone(stored[:2*c]), other[2*c:]...),
		"too-short":         bytes.Clone(stored[:10]),
		"empty":             nil,
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := open(o, b)
			if !errors.Is(err, ErrAuth) {
				t.Errorf("open = %d bytes, %v; want ErrAuth", len(got), err)
			}
		})
	}
}

// TestObject_RangedOpen opens the chunks SpanOf names for random ranges and
// checks the plaintext matches; a range of a truncated object fails.
func TestObject_RangedOpen(t *testing.T) {
	o := newTestObject(t)
	for _, size := range []int64{0, 5, ChunkSize, 3*ChunkSize + 9} {
		plain := make([]byte, size)
		rand.Read(plain)
		stored := seal(o, plain)
		final := Chunks(size) - 1
		for off := int64(0); off <= size; off += 4099 {
			for _, n := range []int64{1, 100, ChunkSize, 2*ChunkSize + 1} {
				sp := SpanOf(off, n, size)
				got, err := o.Open(nil, stored[sp.From:sp.To+1], sp.First, final)
				if err != nil {
					t.Fatalf("size %d: open %+v: %v", size, sp, err)
				}
				skip := off - sp.First*ChunkSize
				want := plain[off:min(off+n, size)]
				if int64(len(got)) < skip+int64(len(want)) || !bytes.Equal(got[skip:skip+int64(len(want))], want) {
					t.Fatalf("size %d off %d n %d: span %+v gives wrong plaintext", size, off, n, sp)
				}
			}
		}
	}
	// Truncated by a chunk and some bytes: the new last chunk is not the final one.
	plain := make([]byte, 3*ChunkSize+100)
	stored := seal(o, plain)[:2*CipherChunkSize+50]
	size, _ := PlainSize(int64(len(stored)))
	sp := SpanOf(size-1, 1, size)
	if _, err := o.Open(nil, stored[sp.From:sp.To+1], sp.First, Chunks(size)-1); !errors.Is(err, ErrAuth) {
		t.Errorf("last chunk of a truncated object opened: %v; want ErrAuth", err)
	}
}

func TestSizes(t *testing.T) {
	for _, c := range []struct{ plain, stored int64 }{
		{0, 16}, {1, 17}, {ChunkSize - 1, ChunkSize + 15}, {ChunkSize, ChunkSize + 32}, {ChunkSize + 1, ChunkSize + 33},
	} {
		if got := CipherSize(c.plain); got != c.stored {
			t.Errorf("CipherSize(%d) = %d; want %d", c.plain, got, c.stored)
		}
		if got, err := PlainSize(c.stored); got != c.plain || err != nil {
			t.Errorf("PlainSize(%d) = %d, %v; want %d", c.stored, got, err, c.plain)
		}
	}
	for _, c := range []int64{0, 15, CipherChunkSize, 3*CipherChunkSize + 15, -1} {
		if _, err := PlainSize(c); err == nil {
			t.Errorf("PlainSize(%d) succeeded; want an error", c)
		}
	}
}

func FuzzSizes(f *testing.F) {
	for _, n := range []int64{0, 1, ChunkSize - 1, ChunkSize, 5 << 40} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, p int64) {
		if p < 0 || p > 1<<50 {
			return
		}
		c := CipherSize(p)
		if got, err := PlainSize(c); got != p || err != nil {
			t.Fatalf("PlainSize(CipherSize(%d)) = %d, %v", p, got, err)
		}
		// Every other stored size ≥ Overhead maps back to itself.
		if q, err := PlainSize(p); (err != nil) != (p%CipherChunkSize < Overhead) || err == nil && CipherSize(q) != p {
			t.Fatalf("CipherSize(PlainSize(%d)) = %d, %v", p, CipherSize(q), err)
		}
		sp := SpanOf(p/3, p/2+1, p)
		if sp.From != sp.First*CipherChunkSize || sp.To >= c || sp.First > sp.Last || sp.Last > Chunks(p)-1 {
			t.Fatalf("SpanOf(%d, %d, %d) = %+v out of bounds (stored %d)", p/3, p/2+1, p, sp, c)
		}
		if end := min(p/3+p/2+1, p); end > p/3 && (sp.Last+1)*ChunkSize < end {
			t.Fatalf("SpanOf misses bytes up to %d: %+v", end, sp)
		}
	})
}
