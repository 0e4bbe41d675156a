package upload

// The stages: the chain an upload's bytes go through, in file order,
// between the reorder window that puts concurrent SFTP writes back in order
// and the parts that go to storage: today the SHA-256 of the plaintext
// (Hash) and envelope sealing (Seal); a malware scan and OpenPGP decryption
// are meant to join them without touching the others. A stage sees every
// byte once and in order, may pass on other bytes than it got (its output,
// not its input, goes to the next stage and then to the parts), and may
// veto the commit when the file is whole (Finish). A stage knows nothing of
// S3, SFTP or the upload memory: the upload cuts the file into parts, runs
// each part through the chain, stores what comes out, and commits only when
// Finish has said yes.

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// A Stage is one step of an upload's bytes. Its methods are called one at
// a time (the upload runs the parts through the chain in file order, each after
// its predecessor).
type Stage interface {
	// Write takes the next bytes of the file (last: the file ends with
	// them; they may be none, for a file that ends on a part boundary) and
	// returns the bytes to pass on, which may be more or fewer (a stage may
	// hold bytes back until the last Write). A stage that passes its input
	// on unchanged returns p itself, and one that changes it in place works
	// within p's capacity (see Sizer): the hot path copies nothing. What the
	// chain passes on for one part is stored as that part; an empty last
	// output stores nothing. An error fails the upload.
	Write(p []byte, last bool) ([]byte, error)
	// Finish says the file is whole and its parts stored, before the
	// commit: an error vetoes the commit, the upload is aborted and the
	// previous object stays as it was.
	Finish() error
	// Abort says the upload will not be committed (it failed, was
	// interrupted for good or discarded): the stage lets go of what it
	// holds. It may come after Finish, and more than once.
	Abort()
}

// A Gate is a stage that decides whether the file may be published at all
// (a content gate: package s3fs/gate) and, once Finish said yes, notes what
// it found in the close record and in the tags kept on the object.
type Gate interface {
	Stage
	Note(r *audit.Record, tags map[string]string)
}

// A Sizer is a stage whose output is longer than its input: the part
// buffers are made OutSize(n) long so that it can work in place.
type Sizer interface {
	OutSize(n int64) int64
}

// A Resumer is a stage an interrupted upload can go on through, from the
// end of any part it passed: Mark, taken right after a part's Write, is its
// state there; Rewind goes back to a mark (the bytes after it come again,
// or never). A Resumer may also get more Writes after an empty last one: a
// temporary file closed on a part boundary and then resumed. An upload
// through a stage that is no Resumer is not kept for a resume.
type Resumer interface {
	Mark() []byte
	Rewind(mark []byte) error
}

// Chain is the stages of one upload, in the order the bytes go through them.
type Chain []Stage

// Write runs p through every stage and returns what the last passes on.
func (c Chain) Write(p []byte, last bool) ([]byte, error) {
	for _, s := range c {
		var err error
		if p, err = s.Write(p, last); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Finish asks every stage whether the file may be committed; the first
// refusal wins.
func (c Chain) Finish() error {
	for _, s := range c {
		if err := s.Finish(); err != nil {
			return err
		}
	}
	return nil
}

// Abort tells every stage the upload will not be committed.
func (c Chain) Abort() {
	for _, s := range c {
		s.Abort()
	}
}

// OutSize is how many bytes the chain passes on for n bytes in.
func (c Chain) OutSize(n int64) int64 {
	for _, s := range c {
		if sz, ok := s.(Sizer); ok {
			n = sz.OutSize(n)
		}
	}
	return n
}

// Mark is every stage's state after the part just written, or nil when a
// stage cannot resume.
func (c Chain) Mark() [][]byte {
	marks := make([][]byte, len(c))
	for i, s := range c {
		r, ok := s.(Resumer)
		if !ok {
			return nil
		}
		marks[i] = r.Mark()
	}
	return marks
}

// errNoMark is a rewind to a mark the chain did not take.
var errNoMark = errors.New("upload: no mark to rewind to")

// Rewind returns every stage to marks, which Mark returned.
func (c Chain) Rewind(marks [][]byte) error {
	if len(marks) != len(c) {
		return errNoMark
	}
	for i, s := range c {
		r, ok := s.(Resumer)
		if !ok {
			return errNoMark
		}
		if err := r.Rewind(marks[i]); err != nil {
			return err
		}
	}
	return nil
}

// Hash is the SHA-256 of the bytes it sees, which it passes on unchanged:
// placed first, the plaintext's, for the audit trail and the object.
type Hash struct{ h hash.Hash }

func NewHash() *Hash { return &Hash{h: sha256.New()} }

func (s *Hash) Write(p []byte, _ bool) ([]byte, error) {
	s.h.Write(p)
	return p, nil
}

func (s *Hash) Finish() error { return nil }
func (s *Hash) Abort()        {}

// Hex is the SHA-256 of the bytes seen so far, in hex.
func (s *Hash) Hex() string { return hex.EncodeToString(s.h.Sum(nil)) }

func (s *Hash) Mark() []byte {
	m, _ := s.h.(encoding.BinaryMarshaler).MarshalBinary() // sha256's never fails
	return m
}

func (s *Hash) Rewind(mark []byte) error {
	if err := s.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(mark); err != nil {
		return fmt.Errorf("rewind sha256: %w", err)
	}
	return nil
}

// Seal encrypts the bytes it sees into envelope chunks (objfmt), in place.
// Every Write but the last must hold whole chunks: the parts are
// multiples of objfmt.ChunkSize. It refuses to commit an object without its
// final chunk (an interrupted upload renamed before it was resumed): no
// reader would accept it.
type Seal struct {
	obj   *objfmt.Object
	off   int64 // plaintext bytes sealed so far: where the next chunk starts
	final bool  // the final chunk is sealed
}

func NewSeal(obj *objfmt.Object) *Seal { return &Seal{obj: obj} }

func (s *Seal) Write(p []byte, last bool) ([]byte, error) {
	out := s.obj.SealInPlace(p, s.off/objfmt.ChunkSize, last)
	s.off += int64(len(p))
	s.final = s.final || last
	return out, nil
}

// errUnfinished refuses an object whose final chunk was never sealed.
var errUnfinished = &Refusal{Reason: "refused: the upload of this file was interrupted before its end; resume it, or upload it again"}

func (s *Seal) Finish() error {
	if !s.final {
		return errUnfinished
	}
	return nil
}

func (s *Seal) Abort() {}

// OutSize is the stored size of n bytes of plaintext, final chunk included.
func (s *Seal) OutSize(n int64) int64 { return objfmt.CipherSize(n) }

func (s *Seal) Mark() []byte {
	m := binary.BigEndian.AppendUint64(nil, uint64(s.off))
	if s.final {
		return append(m, 1)
	}
	return append(m, 0)
}

func (s *Seal) Rewind(mark []byte) error {
	if len(mark) != 9 {
		return errNoMark
	}
	s.off, s.final = int64(binary.BigEndian.Uint64(mark)), mark[8] == 1
	return nil
}

// NextEpoch makes the stage seal in the next nonce epoch, for a resumed
// upload: chunks after the mark it was rewound to may already have been
// sealed once (a part in flight at the disconnect may have landed), and
// sealing them again must not reuse a nonce. It fails with objfmt.ErrEpochs
// when no epoch is left.
func (s *Seal) NextEpoch() error {
	obj, err := s.obj.Resumed()
	if err != nil {
		return err
	}
	s.obj = obj
	return nil
}

// Refusal is a stage's refusal of a file whose text is written for the
// partner ("upload refused: ..."): the partner reads it as it is. Any other error
// of a stage reaches only the log; the partner reads a plain failure.
// Kind, if set, says why in one word for the trail's reason (a gate's:
// ReasonMalware, ...); Cause, if set, is the full cause, for the log.
type Refusal struct {
	Reason string
	Kind   string
	Cause  error
}

func (r *Refusal) Error() string { return r.Reason }
