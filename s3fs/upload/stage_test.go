package upload

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/s3sftpd/s3sftpd/objfmt"
)

// TestHash_PassesBytesOnWithoutCopy: a stage that changes nothing hands on
// the very buffer it got, so the hot path copies nothing.
func TestHash_PassesBytesOnWithoutCopy(t *testing.T) {
	h := NewHash()
	in := []byte("lab results")
	out, err := Chain{h}.Write(in, true)
	if err != nil {
		t.Fatal(err)
	}
	if &out[0] != &in[0] || len(out) != len(in) {
		t.Errorf("Hash passed on other memory than it got")
	}
	want := sha256.Sum256(in)
	if got := h.Hex(); got != hex.EncodeToString(want[:]) {
		t.Errorf("Hex() = %s; want %x", got, want)
	}
}

// TestChain_ResumesFromAMark: rewound to the mark taken after the first
// part, the chain gives the same hash and the same sealed bytes as one that
// never went further.
func TestChain_ResumesFromAMark(t *testing.T) {
	key := make([]byte, objfmt.KeySize)
	rand.Read(key)
	meta := map[string]string{objfmt.MetaVersion: objfmt.Version, objfmt.MetaObjectID: objfmt.NewObjectID()}
	newChain := func() (Chain, *Hash, *Seal) {
		obj, err := objfmt.NewObject(key, meta)
		if err != nil {
			t.Fatal(err)
		}
		h, s := NewHash(), NewSeal(obj)
		return Chain{h, s}, h, s
	}
	part := func(b byte) []byte {
		p := make([]byte, objfmt.ChunkSize, objfmt.CipherSize(objfmt.ChunkSize)) // room to seal in place
		copy(p, bytes.Repeat([]byte{b}, objfmt.ChunkSize))
		return p
	}

	straight, sum, _ := newChain()
	if _, err := straight.Write(part('a'), false); err != nil {
		t.Fatal(err)
	}
	want, _ := straight.Write(part('b'), true)
	wantSum := sum.Hex()

	resumed, rsum, _ := newChain()
	resumed.Write(part('a'), false)
	mark := resumed.Mark()
	resumed.Write(part('x'), false) // sent, then lost in a disconnect
	if err := resumed.Rewind(mark); err != nil {
		t.Fatal(err)
	}
	got, _ := resumed.Write(part('b'), true)
	if !bytes.Equal(got, want) {
		t.Errorf("second part sealed after a rewind differs from one sealed straight through")
	}
	if rsum.Hex() != wantSum {
		t.Errorf("SHA-256 after a rewind = %s; want %s", rsum.Hex(), wantSum)
	}
}

// veto refuses every file at Finish and cannot resume.
type veto struct{ aborted int }

func (v *veto) Write(p []byte, _ bool) ([]byte, error) { return p, nil }
func (v *veto) Finish() error                          { return &Refusal{Reason: "upload refused: test veto"} }
func (v *veto) Abort()                                 { v.aborted++ }

func TestChain_AStageThatCannotResumeLeavesNoMark(t *testing.T) {
	c := Chain{NewHash(), &veto{}}
	if m := c.Mark(); m != nil {
		t.Errorf("Mark() = %v; want nil (veto cannot resume)", m)
	}
	if err := c.Rewind(nil); err == nil {
		t.Errorf("Rewind(nil) succeeded; want an error")
	}
}

func TestChain_FinishVetoAndAbort(t *testing.T) {
	v := &veto{}
	c := Chain{NewHash(), v}
	var r *Refusal
	if err := c.Finish(); !errors.As(err, &r) {
		t.Errorf("Finish() = %v; want the stage's refusal", err)
	}
	c.Abort()
	if v.aborted != 1 {
		t.Errorf("stage aborted %d times; want 1", v.aborted)
	}
}

func TestChain_OutSizeFollowsTheSizers(t *testing.T) {
	obj, err := objfmt.NewObject(make([]byte, objfmt.KeySize), map[string]string{objfmt.MetaVersion: objfmt.Version, objfmt.MetaObjectID: objfmt.NewObjectID()})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{0, 1, objfmt.ChunkSize, 3*objfmt.ChunkSize + 7} {
		if got, want := (Chain{NewHash()}).OutSize(n), n; got != want {
			t.Errorf("plain OutSize(%d) = %d; want %d", n, got, want)
		}
		if got, want := (Chain{NewHash(), NewSeal(obj)}).OutSize(n), objfmt.CipherSize(n); got != want {
			t.Errorf("sealed OutSize(%d) = %d; want %d", n, got, want)
		}
	}
}
