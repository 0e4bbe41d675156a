package objfmt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func newTestObject(t testing.TB) *Object {
	t.Helper()
	key := make([]byte, KeySize)
	rand.Read(key)
	o, err := NewObject(key, map[string]string{MetaVersion: Version, MetaObjectID: NewObjectID()})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// sealChunk seals one chunk as docs/envelope-format.md says, with
// crypto/cipher alone: an independent writer the Object must read.
func sealChunk(t *testing.T, key []byte, epoch byte, i uint64, final bool, aad, plain []byte) []byte {
	t.Helper()
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	n := make([]byte, 12)
	n[2] = epoch
	binary.BigEndian.PutUint64(n[3:11], i)
	if final {
		n[11] = 1
	}
	return gcm.Seal(nil, n, plain, aad)
}

// TestObject_DocumentedFormat: objects written as docs/envelope-format.md
// documents versions 1 and 2 (an id in the AAD, epochs in the nonce) open,
// and only under their own version and id.
func TestObject_DocumentedFormat(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	id := NewObjectID()
	plain := make([]byte, 2*ChunkSize+7)
	rand.Read(plain)
	v2AAD := []byte("s3sftpd-chunk-v2\x00" + id)
	// version 2, resumed after the first chunk: chunk 0 in epoch 0, the rest in epoch 1
	v2 := sealChunk(t, key, 0, 0, false, v2AAD, plain[:ChunkSize])
	v2 = append(v2, sealChunk(t, key, 1, 1, false, v2AAD, plain[ChunkSize:2*ChunkSize])...)
	v2 = append(v2, sealChunk(t, key, 1, 2, true, v2AAD, plain[2*ChunkSize:])...)
	v1 := sealChunk(t, key, 0, 0, false, nil, plain[:ChunkSize])
	v1 = append(v1, sealChunk(t, key, 0, 1, false, nil, plain[ChunkSize:2*ChunkSize])...)
	v1 = append(v1, sealChunk(t, key, 0, 2, true, nil, plain[2*ChunkSize:])...)
	for _, c := range []struct {
		name   string
		meta   map[string]string
		stored []byte
		ok     bool
	}{
		{"v2", map[string]string{MetaVersion: "2", MetaObjectID: id}, v2, true},
		{"v2-other-id", map[string]string{MetaVersion: "2", MetaObjectID: NewObjectID()}, v2, false},
		{"v2-read-as-v1", map[string]string{MetaVersion: "1"}, v2, false},
		{"v1", map[string]string{MetaVersion: "1"}, v1, true},
		{"v1-upgraded", map[string]string{MetaVersion: "2"}, v1, true}, // rewrap: version 2 metadata, no id
		{"v1-read-with-id", map[string]string{MetaVersion: "2", MetaObjectID: id}, v1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := NewObject(key, c.meta)
			if err != nil {
				t.Fatal(err)
			}
			got, err := open(o, c.stored)
			if c.ok && (err != nil || !bytes.Equal(got, plain)) {
				t.Errorf("open = %d bytes, %v; want the plaintext", len(got), err)
			}
			if !c.ok && !errors.Is(err, ErrAuth) {
				t.Errorf("open = %d bytes, %v; want ErrAuth", len(got), err)
			}
		})
	}
	if _, err := NewObject(key, map[string]string{MetaVersion: "3"}); err == nil {
		t.Error("NewObject accepted format version 3")
	}
}

// TestObject_ResumeEpochs: the chunks of a part sealed again after a resume
// are sealed under another nonce (so another ciphertext for the same bytes);
// the object reads back whole, sequentially and at any range; a stream
// whose epochs go backwards (an old part spliced in) fails; epochs run out.
func TestObject_ResumeEpochs(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	meta := map[string]string{MetaVersion: Version, MetaObjectID: NewObjectID()}
	o, err := NewObject(key, meta)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, 4*ChunkSize+5)
	rand.Read(plain)
	part2 := plain[2*ChunkSize : 4*ChunkSize]
	inFlight := o.SealInPlace(bytes.Clone(part2), 2, false) // sent when the connection broke; may land
	r1, err := o.Resumed()
	if err != nil {
		t.Fatal(err)
	}
	resent := r1.SealInPlace(bytes.Clone(part2), 2, false)
	for i := 0; i < 2; i++ {
		a, b := inFlight[i*CipherChunkSize:(i+1)*CipherChunkSize], resent[i*CipherChunkSize:(i+1)*CipherChunkSize]
		if bytes.Equal(a, b) {
			t.Fatalf("chunk %d sealed again after the resume has the same ciphertext: nonce reused", 2+i)
		}
	}
	var stored []byte
	stored = append(stored, o.SealInPlace(bytes.Clone(plain[:2*ChunkSize]), 0, false)...)
	stored = append(stored, resent...)
	r2, _ := r1.Resumed()
	stored = append(stored, r2.SealInPlace(bytes.Clone(plain[4*ChunkSize:]), 4, true)...)
	if got, err := open(o, stored); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("resumed object = %d bytes, %v; want the plaintext", len(got), err)
	}
	size := int64(len(plain))
	for off := int64(0); off < size; off += ChunkSize / 2 {
		sp := SpanOf(off, ChunkSize, size)
		fresh, _ := NewObject(key, meta) // has read nothing: starts at epoch 0
		for _, c := range []*Object{fresh, o} {
			got, err := c.Open(nil, stored[sp.From:sp.To+1], sp.First, Chunks(size)-1)
			if err != nil || !bytes.Equal(got[off-sp.First*ChunkSize:][:min(ChunkSize, size-off)], plain[off:min(off+ChunkSize, size)]) {
				t.Fatalf("range at %d: %v", off, err)
			}
		}
	}
	// chunk 3 as first sent (epoch 0) after chunk 2 as resent (epoch 1)
	back := append(bytes.Clone(stored[:2*CipherChunkSize]), resent[:CipherChunkSize]...)
	back = append(back, inFlight[CipherChunkSize:]...)
	back = append(back, stored[4*CipherChunkSize:]...)
	if _, err := open(o, back); !errors.Is(err, ErrAuth) {
		t.Errorf("a stream whose epochs go backwards opened: %v; want ErrAuth", err)
	}
	last := o
	for range MaxEpoch {
		if last, err = last.Resumed(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := last.Resumed(); !errors.Is(err, ErrEpochs) {
		t.Errorf("resume %d = %v; want ErrEpochs", MaxEpoch+1, err)
	}
	v1, _ := NewObject(key, map[string]string{MetaVersion: Version1})
	if _, err := v1.Resumed(); !errors.Is(err, ErrEpochs) {
		t.Errorf("a version-1 cipher resumed: %v; want ErrEpochs", err)
	}
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

// BenchmarkObject seals and opens 16 MiB as the upload and download do, a
// part or block at a time: the per-chunk cost of the format (bench/envelope.sh
// measures it end to end).
func BenchmarkObject(b *testing.B) {
	o := newTestObject(b)
	plain := make([]byte, 16<<20)
	buf := make([]byte, len(plain), CipherSize(int64(len(plain))))
	stored := o.SealInPlace(bytes.Clone(plain), 0, true)
	final := Chunks(int64(len(plain))) - 1
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			copy(buf[:len(plain)], plain)
			o.SealInPlace(buf[:len(plain)], 0, true)
		}
	})
	b.Run("open", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		dst := make([]byte, 0, len(plain))
		for b.Loop() {
			if _, err := o.Open(dst, stored, 0, final); err != nil {
				b.Fatal(err)
			}
		}
	})
}
