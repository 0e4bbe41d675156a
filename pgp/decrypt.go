package pgp

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Refusals of an upload by Decrypt. Their text is written for the partner.
var (
	ErrNotOpenPGP    = errors.New("upload refused: the file is not an OpenPGP message; this folder takes files encrypted to the server's OpenPGP key")
	ErrNotEncrypted  = errors.New("upload refused: the file is not encrypted to this server's OpenPGP key")
	ErrUnsigned      = errors.New("upload refused: the file is not signed; this folder requires a signature by one of your OpenPGP keys")
	ErrBadSignature  = errors.New("upload refused: the file's OpenPGP signature does not match its contents (altered or damaged)")
	ErrIntegrity     = errors.New("upload refused: the file is damaged or was altered (its OpenPGP integrity check failed)")
	ErrExpansion     = errors.New("upload refused: the file expands too much when decompressed")
	ErrTruncated     = errors.New("upload refused: the OpenPGP message ends before its end (incomplete upload?)")
	ErrTrailing      = errors.New("upload refused: the file has data after the end of its OpenPGP message")
	errWriteFinished = errors.New("pgp: write after the last")
)

// UnknownSignerError refuses a file signed by a key that is not one of the
// partner's. Its text is written for the partner.
type UnknownSignerError struct{ KeyID uint64 }

func (e *UnknownSignerError) Error() string {
	return fmt.Sprintf("upload refused: the file is signed by a key that is not one of yours (key ID %016X)", e.KeyID)
}

// Refusal returns the partner's text of an error of this package, and
// false for any other error (whose text is for the log only).
func Refusal(err error) (string, bool) {
	var unknown *UnknownSignerError
	switch {
	case errors.As(err, &unknown):
		return unknown.Error(), true
	}
	for _, r := range []error{ErrNotOpenPGP, ErrNotEncrypted, ErrUnsigned, ErrBadSignature, ErrIntegrity, ErrExpansion, ErrTruncated, ErrTrailing} {
		if errors.Is(err, r) {
			return r.Error(), true // not err's: what it wraps is the library's text
		}
	}
	return "", false
}

// Decrypt is one upload decrypted on the fly, an upload stage: Write takes
// the OpenPGP message's next bytes and returns the plaintext they complete;
// Finish, after the last Write, says whether the message was whole, intact
// and (if required) signed by one of the partner's keys. The
// plaintext handed out before Finish is not yet authenticated: it may be
// stored, never shown, until Finish says yes (the atomic publish).
//
// Armored and binary messages, compressed, partial-length, SEIPD v1 (MDC)
// and v2 (AEAD: OCB, EAX, GCM) packets are read. A goroutine of its own
// decrypts; Finish or Abort must be called to end it. Its methods are
// called one at a time. It cannot be resumed (a decryption cannot go back).
type Decrypt struct {
	// Align makes the output of every Write but the last a multiple of
	// Align bytes (the rest waits for the next Write): set it to the next
	// stage's block (objfmt's chunk). 0 or 1 hands out everything.
	Align int
	// MaxPending bounds the plaintext one Write may hand out (a compressed
	// message expands): past it the file is refused with ErrExpansion. It
	// is a bound per Write, so small Writes (1 MiB of ciphertext) allow a
	// large ratio (64:1 by default, past any CSV's) where large ones
	// (16 MiB parts) would refuse a gpg-compressed text at 4:1.
	// Align and MaxPending are set before the first Write.
	MaxPending int

	require bool
	signers map[[32]byte]*Key // by fingerprint (v4's 20 bytes zero-padded)

	in     chan []byte   // ciphertext handed to the decrypting goroutine
	hungry chan struct{} // the goroutine consumed all it was given
	quit   chan struct{} // Abort: the goroutine stops
	done   chan struct{} // the goroutine ended: result is set

	waiting bool // the goroutine waits on in
	closed  bool // in is closed: the last Write came
	aborted bool

	out    []byte // plaintext decrypted, not yet handed out
	result error
	signer *Key
}

// DefaultMaxPending is MaxPending unless set.
const DefaultMaxPending = 64 << 20

// NewDecrypt starts decrypting one upload with the gateway's key. With
// requireSignature, the message must be signed by one of signers (the
// partner's keys); without, a signature by one of them is still checked
// and reported (Signer), one that fails refused, and one by another key
// ignored.
func NewDecrypt(gateway *Key, signers []*Key, requireSignature bool) *Decrypt {
	d := &Decrypt{
		MaxPending: DefaultMaxPending,
		require:    requireSignature,
		signers:    make(map[[32]byte]*Key, len(signers)),
		in:         make(chan []byte),
		hungry:     make(chan struct{}),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	keyring := openpgp.EntityList{gateway.entity}
	for _, k := range signers {
		d.signers[fingerprintKey(k.entity.PrimaryKey.Fingerprint)] = k
		keyring = append(keyring, k.entity)
	}
	go d.run(keyring, time.Now())
	return d
}

func fingerprintKey(fp []byte) [32]byte {
	var k [32]byte
	copy(k[:], fp)
	return k
}

// feed is the goroutine's reader: it hands out what Write gave and, when
// that is used up, tells Write so and waits for more.
type feed struct {
	d   *Decrypt
	cur []byte
	eof bool
}

func (f *feed) Read(p []byte) (int, error) {
	for len(f.cur) == 0 {
		if f.eof {
			return 0, io.EOF
		}
		select {
		case f.d.hungry <- struct{}{}:
		case <-f.d.quit:
			return 0, errAborted
		}
		select {
		case c, ok := <-f.d.in:
			f.cur, f.eof = c, !ok
		case <-f.d.quit:
			return 0, errAborted
		}
	}
	n := copy(p, f.cur)
	f.cur = f.cur[n:]
	return n, nil
}

var errAborted = errors.New("pgp: upload aborted")

// run decrypts the whole message, appending plaintext to d.out, and sets
// d.result.
func (d *Decrypt) run(keyring openpgp.EntityList, now time.Time) {
	defer close(d.done)
	d.result = d.decrypt(&feed{d: d}, keyring, now)
}

func (d *Decrypt) decrypt(r io.Reader, keyring openpgp.EntityList, now time.Time) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(1)
	if err != nil {
		if errors.Is(err, errAborted) {
			return err
		}
		return ErrNotOpenPGP // empty
	}
	var msg io.Reader = br
	if head[0]&0x80 == 0 { // not a binary packet: armored, or not OpenPGP at all
		block, err := armor.Decode(br)
		if err != nil || block.Type != "PGP MESSAGE" {
			if errors.Is(err, errAborted) {
				return err
			}
			return ErrNotOpenPGP
		}
		msg = block.Body
	} else if !messageTag(head[0]) {
		return ErrNotOpenPGP
	}
	md, err := openpgp.ReadMessage(msg, keyring, nil, config(now))
	if err != nil {
		return classifyOpen(err)
	}
	if !md.IsEncrypted || md.DecryptedWith.Entity != keyring[0] {
		return ErrNotEncrypted
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := md.UnverifiedBody.Read(buf)
		d.out = append(d.out, buf[:n]...)
		if len(d.out) > d.MaxPending {
			return ErrExpansion
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return classifyBody(err)
		}
	}
	return d.verify(md)
}

// messageTag reports whether a binary packet header starts an OpenPGP
// message: PKESK, SKESK, signature, one-pass signature, compressed,
// symmetrically encrypted, marker, literal, SEIPD, OCB (GnuPG 2.4) or
// padding.
func messageTag(b byte) bool {
	tag := (b & 0x3f) >> 2 // old format
	if b&0x40 != 0 {
		tag = b & 0x3f // new format
	}
	switch tag {
	case 1, 2, 3, 4, 8, 9, 10, 11, 18, 20, 21:
		return true
	}
	return false
}

// classifyOpen names why a message could not be opened.
func classifyOpen(err error) error {
	switch {
	case errors.Is(err, errAborted):
		return err
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		return ErrNotEncrypted
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ErrTruncated
	}
	// The key was found, the data does not decrypt or authenticate: a
	// compressed message's first chunk is read, and checked, on opening.
	var withKey pgperrors.DecryptWithSessionKeyError
	var aead pgperrors.AEADError
	if errors.As(err, &withKey) || errors.As(err, &aead) || errors.Is(err, pgperrors.ErrMDCHashMismatch) {
		return fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	var structural pgperrors.StructuralError
	var base64Err base64.CorruptInputError
	if errors.As(err, &structural) || errors.As(err, &base64Err) || errors.Is(err, armor.ArmorCorrupt) {
		return fmt.Errorf("%w: %v", ErrNotOpenPGP, err)
	}
	return fmt.Errorf("open OpenPGP message: %w", err)
}

// classifyBody names why reading a message's contents failed.
func classifyBody(err error) error {
	switch {
	case errors.Is(err, errAborted):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrTruncated
	}
	// An MDC or AEAD tag that does not match, or a body that does not
	// parse once decrypted: either way not the file that was encrypted.
	return fmt.Errorf("%w: %v", ErrIntegrity, err)
}

// verify decides on the signature, once the whole body was read. A
// signature that fails is refused even where none is required: it is
// evidence the file is not what was signed. One by a key that is not the
// partner's is refused only where a signature is required.
func (d *Decrypt) verify(md *openpgp.MessageDetails) error {
	if !md.IsSigned {
		if d.require {
			return ErrUnsigned
		}
		return nil
	}
	unknownIssuer := md.SignatureError != nil && errors.Is(md.SignatureError, pgperrors.ErrUnknownIssuer)
	switch {
	case md.SignatureError != nil && !unknownIssuer:
		return fmt.Errorf("%w: %v", ErrBadSignature, md.SignatureError)
	case md.SignatureError == nil && md.SignedBy != nil:
		if k, ok := d.signers[fingerprintKey(md.SignedBy.Entity.PrimaryKey.Fingerprint)]; ok {
			d.signer = k
			return nil
		}
	}
	if !d.require {
		return nil
	}
	var id uint64
	if md.SelectedCandidate != nil {
		id = md.SelectedCandidate.IssuerKeyId
	}
	return &UnknownSignerError{KeyID: id}
}

// Write hands the goroutine p and returns the plaintext decrypted so far
// (aligned, see Align). It returns a new slice, never p: the plaintext
// size of a part is not its ciphertext's.
func (d *Decrypt) Write(p []byte, last bool) ([]byte, error) {
	if d.closed || d.aborted {
		return nil, errWriteFinished
	}
	if len(p) > 0 {
		if !d.awaitHungry() {
			return nil, d.endedEarly()
		}
		// Room for p's plaintext (no more, unless compressed) at once,
		// rather than growing out read by read.
		d.out = slices.Grow(d.out, len(p)+64<<10)
		d.in <- p // the goroutine waits for it
		d.waiting = false
		d.awaitHungry() // p is consumed, or the goroutine ended: see below
	}
	if last {
		d.closed = true
		if d.awaitHungry() {
			close(d.in)
		}
		<-d.done
		if d.result != nil {
			return nil, d.result
		}
		out := d.out
		d.out = nil
		return out, nil
	}
	select {
	case <-d.done:
		if d.result != nil {
			return nil, d.result
		}
	default:
	}
	n := len(d.out)
	if d.Align > 1 {
		n -= n % d.Align
	}
	out := d.out[:n:n]
	d.out = append([]byte(nil), d.out[n:]...)
	return out, nil
}

// awaitHungry waits until the goroutine has consumed all it was given and
// waits for more (true), or has ended (false).
func (d *Decrypt) awaitHungry() bool {
	if d.waiting {
		return true
	}
	select {
	case <-d.hungry:
		d.waiting = true
		return true
	case <-d.done:
		return false
	}
}

// endedEarly is why the goroutine ended before the input did.
func (d *Decrypt) endedEarly() error {
	<-d.done
	if d.result == nil {
		return ErrTrailing
	}
	return d.result
}

// Finish says whether the message may be committed: nil once it was read
// whole, intact, and signed as required.
func (d *Decrypt) Finish() error {
	if !d.closed {
		d.Abort()
		return ErrTruncated
	}
	<-d.done
	return d.result
}

// Abort stops the goroutine; it may come after Finish, and more than once.
func (d *Decrypt) Abort() {
	if !d.aborted {
		d.aborted = true
		close(d.quit)
	}
	<-d.done
	d.out = nil
}

// Signer is the partner key that signed the message, once Finish said
// yes; nil for an unsigned message (allowed without RequireSignature).
func (d *Decrypt) Signer() *Key { return d.signer }
