package pgp

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Encrypter makes downloads into OpenPGP messages to a partner's keys,
// signed by the gateway's key, whose size is known from the plaintext's
// before a byte is encrypted (Size): listings show the size the client
// will receive, and clients that trust it (WinSCP) work.
//
// The size is exact because every part of the message has a fixed length:
// no compression; a PKESK per recipient, re-encrypted in the rare case
// RSA's output has a leading zero; a binary literal packet with no name
// and no date; AES-256 encrypted data framed in 64 KiB partial lengths,
// as SEIPD v1 (MDC, which every OpenPGP tool reads, GnuPG 2.2 included)
// for v4 keys, or as SEIPD v2 (AEAD OCB, 256 KiB chunks) when every
// recipient key is a v6 key (RFC 9580); and a signature padded to its
// algorithm's largest size with an unhashed private subpacket (a
// signature's length otherwise varies with its MPIs' leading zeros).
//
// A partner's keys must all be v4 or all be v6.
type Encrypter struct {
	recipients []*packet.PublicKey // their encryption subkeys
	pkeskLen   []int               // the exact length of each one's PKESK
	aead       bool                // SEIPD v2: every recipient is a v6 key
	signer     *packet.PrivateKey
	hash       crypto.Hash
	opsLen     int // one-pass signature packet
	sigBody    int // signature packet body, padded
	now        func() time.Time
}

// frameChunk is the partial length of the literal and encrypted packets.
const frameChunk = 1 << 16

// aeadChunk is SEIPD v2's chunk: 1 << (12 + 6), go-crypto's default, with
// a 16-byte tag after each and after the last.
const (
	aeadChunk = 1 << 18
	aeadTag   = 16
)

// NewEncrypter prepares encryption to recipients' keys (each partner key's
// current encryption subkey), signed by gateway's signing key.
func NewEncrypter(gateway *Key, recipients []*Key) (*Encrypter, error) {
	now := time.Now()
	cfg := config(now)
	if len(recipients) == 0 {
		return nil, errors.New("encrypt: no recipient key")
	}
	signKey, ok := gateway.entity.SigningKey(now, cfg)
	if !ok || signKey.PrivateKey == nil {
		return nil, errors.New("encrypt: the gateway's key has no usable signing key")
	}
	e := &Encrypter{signer: signKey.PrivateKey, hash: crypto.SHA256, now: time.Now, aead: recipients[0].entity.PrimaryKey.Version == 6}
	for _, r := range recipients {
		ek, err := r.entity.EncryptionKeyWithError(now, cfg)
		if err != nil {
			return nil, fmt.Errorf("encrypt to %s: %w", r.Fingerprint(), err)
		}
		if v6 := r.entity.PrimaryKey.Version == 6; v6 != e.aead {
			return nil, fmt.Errorf("encrypt to %s: the partner's keys mix v4 and v6 keys; give it keys of one version", r.Fingerprint())
		}
		n, err := e.pkeskLength(ek.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("encrypt to %s: %w", r.Fingerprint(), err)
		}
		e.recipients = append(e.recipients, ek.PublicKey)
		e.pkeskLen = append(e.pkeskLen, n)
	}
	ops, _, err := e.onePass()
	if err != nil {
		return nil, err
	}
	e.opsLen = len(ops)
	if e.sigBody, err = e.signatureBodyLength(); err != nil {
		return nil, err
	}
	return e, nil
}

// Size is the exact length of the message Encrypt makes of plain bytes.
func (e *Encrypter) Size(plain int64) int64 {
	var n int64
	for _, l := range e.pkeskLen {
		n += int64(l)
	}
	sigPacket := int64(1+lengthHeaderLen(int64(e.sigBody))) + int64(e.sigBody)
	inner := int64(e.opsLen) + framedLen(6+plain) + sigPacket
	if e.aead {
		// SEIPD v2: version, cipher, mode, chunk size, salt; a tag per
		// chunk (one at least) and a final one.
		chunks := max(1, (inner+aeadChunk-1)/aeadChunk)
		return n + framedLen(4+32+inner+chunks*aeadTag+aeadTag)
	}
	// SEIPD v1: version, AES's block + 2 of random prefix, MDC packet (2 + SHA-1).
	return n + framedLen(1+aesBlock+2+inner+2+20)
}

const aesBlock = 16

// framedLen is a packet of body bytes with its tag and partial lengths.
func framedLen(body int64) int64 {
	rest := body % frameChunk
	return 1 + body/frameChunk*(1+frameChunk) + int64(lengthHeaderLen(rest)) + rest
}

func lengthHeaderLen(n int64) int {
	switch {
	case n < 192:
		return 1
	case n < 8384:
		return 2
	default:
		return 5
	}
}

func appendLength(b []byte, n int) []byte {
	switch {
	case n < 192:
		return append(b, byte(n))
	case n < 8384:
		n -= 192
		return append(b, byte(n>>8)+192, byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 255), uint32(n))
	}
}

// pkeskLength is the length of a PKESK to pub at its largest: an RSA
// ciphertext with no leading zero byte; other algorithms' are fixed.
func (e *Encrypter) pkeskLength(pub *packet.PublicKey) (int, error) {
	for range 64 {
		b, err := e.serializePKESK(pub, make([]byte, 32))
		if err != nil {
			return 0, err
		}
		if full, ok := rsaFull(pub, b); ok && !full {
			continue
		}
		return len(b), nil
	}
	return 0, errors.New("no full-length RSA ciphertext in 64 tries")
}

// serializePKESK is a v3 PKESK, or a v6 one for SEIPD v2.
func (e *Encrypter) serializePKESK(pub *packet.PublicKey, session []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&b, pub, packet.CipherAES256, e.aead, session, nil); err != nil {
		return nil, fmt.Errorf("encrypt session key: %w", err)
	}
	return b.Bytes(), nil
}

// rsaFull reports, for an RSA recipient (ok), whether the PKESK's MPI has
// the modulus's full byte length.
func rsaFull(pub *packet.PublicKey, pkesk []byte) (full, ok bool) {
	if pub.PubKeyAlgo != packet.PubKeyAlgoRSA && pub.PubKeyAlgo != packet.PubKeyAlgoRSAEncryptOnly {
		return false, false
	}
	bits, _ := pub.BitLength()
	_, hdr := packetBody(pkesk)
	mpi := hdr + 1 + 8 + 1 // v3: version, key ID, algorithm
	if pkesk[hdr] == 6 {
		mpi = hdr + 1 + 1 + int(pkesk[hdr+1]) + 1 // v6: version, length, key version and fingerprint, algorithm
	}
	if len(pkesk) < mpi+2 {
		return false, true
	}
	mpiBits := int(binary.BigEndian.Uint16(pkesk[mpi:]))
	return (mpiBits+7)/8 == (int(bits)+7)/8, true
}

// packetBody returns a new-format packet's body length and header length.
func packetBody(p []byte) (body, hdr int) {
	switch b := p[1]; {
	case b < 192:
		return int(b), 2
	case b < 224:
		return (int(b)-192)<<8 + int(p[2]) + 192, 3
	default:
		return int(binary.BigEndian.Uint32(p[2:])), 6
	}
}

func (e *Encrypter) onePass() ([]byte, []byte, error) {
	ops := &packet.OnePassSignature{Version: 3, SigType: packet.SigTypeBinary, Hash: e.hash, PubKeyAlgo: e.signer.PubKeyAlgo, KeyId: e.signer.KeyId, IsLast: true}
	var salt []byte
	if e.signer.Version == 6 {
		var err error
		if salt, err = packet.SignatureSaltForHash(e.hash, rand.Reader); err != nil {
			return nil, nil, err
		}
		ops.Version, ops.KeyFingerprint, ops.Salt = 6, e.signer.Fingerprint, salt
	}
	var b bytes.Buffer
	if err := ops.Serialize(&b); err != nil {
		return nil, nil, fmt.Errorf("one-pass signature: %w", err)
	}
	return b.Bytes(), salt, nil
}

func (e *Encrypter) newSignature(salt []byte) (*packet.Signature, hash.Hash, error) {
	sig := &packet.Signature{
		Version: e.signer.Version, SigType: packet.SigTypeBinary, PubKeyAlgo: e.signer.PubKeyAlgo, Hash: e.hash,
		CreationTime: e.now(), IssuerKeyId: &e.signer.KeyId, IssuerFingerprint: e.signer.Fingerprint,
	}
	if salt != nil {
		if err := sig.SetSalt(salt); err != nil {
			return nil, nil, err
		}
	}
	h, err := sig.PrepareSign(nil)
	return sig, h, err
}

// signatureBodyLength is the padded length of a signature's body: a
// sample's fixed part, the algorithm's largest signature, and the
// smallest padding subpacket.
func (e *Encrypter) signatureBodyLength() (int, error) {
	_, salt, err := e.onePass()
	if err != nil {
		return 0, err
	}
	sig, h, err := e.newSignature(salt)
	if err != nil {
		return 0, err
	}
	if err := sig.Sign(h, e.signer, nil); err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	var b bytes.Buffer
	if err := sig.Serialize(&b); err != nil {
		return 0, err
	}
	body, hdr := packetBody(b.Bytes())
	_, material := sigLayout(b.Bytes()[hdr : hdr+body])
	max, err := maxSignatureMaterial(&e.signer.PublicKey)
	if err != nil {
		return 0, err
	}
	return material + max + 2, nil
}

// sigLayout returns where a signature body's unhashed area starts (at its
// length) and where the signature material starts.
func sigLayout(body []byte) (unhashed, material int) {
	if body[0] == 6 {
		unhashed = 4 + 4 + int(binary.BigEndian.Uint32(body[4:]))
		material = unhashed + 4 + int(binary.BigEndian.Uint32(body[unhashed:])) + 2
		return unhashed, material + 1 + int(body[material])
	}
	unhashed = 4 + 2 + int(binary.BigEndian.Uint16(body[4:]))
	return unhashed, unhashed + 2 + int(binary.BigEndian.Uint16(body[unhashed:])) + 2
}

// maxSignatureMaterial is the largest signature an algorithm makes, MPI
// headers included.
func maxSignatureMaterial(pub *packet.PublicKey) (int, error) {
	switch pub.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		bits, err := pub.BitLength()
		if err != nil {
			return 0, err
		}
		return 2 + (int(bits)+7)/8, nil
	case packet.PubKeyAlgoEd25519:
		return 64, nil
	case packet.PubKeyAlgoEd448:
		return 114, nil
	case packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDSA:
		curve, err := pub.Curve()
		if err != nil {
			return 0, err
		}
		field := map[packet.Curve]int{
			packet.Curve25519: 32, packet.Curve448: 57, packet.CurveNistP256: 32, packet.CurveNistP384: 48, packet.CurveNistP521: 66,
			packet.CurveBrainpoolP256: 32, packet.CurveBrainpoolP384: 48, packet.CurveBrainpoolP512: 64, packet.CurveSecP256k1: 32,
		}[curve]
		if field == 0 {
			return 0, fmt.Errorf("signing curve %s is not supported for downloads", curve)
		}
		return 2 * (2 + field), nil
	}
	return 0, fmt.Errorf("signing algorithm %d is not supported for downloads", pub.PubKeyAlgo)
}

// padSignature returns the signature packet for body, padded to bodyLen
// with unhashed private subpackets (type 100, not critical: ignored by
// readers, outside what is signed).
func padSignature(body []byte, bodyLen int) ([]byte, error) {
	pad := bodyLen - len(body)
	if pad < 2 {
		return nil, fmt.Errorf("signature of %d bytes exceeds its planned %d", len(body), bodyLen-2)
	}
	var subpackets []byte
	for pad > 0 {
		n := min(pad, 101)
		if pad-n == 1 {
			n = 100
		}
		subpackets = append(subpackets, byte(n-1), 100)
		subpackets = append(subpackets, make([]byte, n-2)...)
		pad -= n
	}
	unhashed, _ := sigLayout(body)
	out := appendLength([]byte{0xC0 | 2}, bodyLen)
	out = append(out, body[:unhashed]...)
	if body[0] == 6 {
		n := binary.BigEndian.Uint32(body[unhashed:])
		out = binary.BigEndian.AppendUint32(out, n+uint32(len(subpackets)))
		out = append(out, subpackets...)
		return append(out, body[unhashed+4:]...), nil
	}
	n := binary.BigEndian.Uint16(body[unhashed:])
	out = binary.BigEndian.AppendUint16(out, n+uint16(len(subpackets)))
	out = append(out, subpackets...)
	return append(out, body[unhashed+2:]...), nil
}

// Encrypt starts a message to w; the plaintext is written to the returned
// writer, which must be closed to write the signature and the end. It
// holds at most a few 64 KiB buffers.
func (e *Encrypter) Encrypt(w io.Writer) (io.WriteCloser, error) {
	session := make([]byte, 32)
	if _, err := rand.Read(session); err != nil {
		return nil, err
	}
	for i, pub := range e.recipients {
		var b []byte
		for tries := 0; len(b) != e.pkeskLen[i]; tries++ {
			if tries == 64 {
				return nil, errors.New("encrypt session key: no full-length ciphertext in 64 tries")
			}
			var err error
			if b, err = e.serializePKESK(pub, session); err != nil {
				return nil, err
			}
		}
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
	}
	outer := &framer{w: w, tag: 18}
	suite := packet.CipherSuite{Cipher: packet.CipherAES256, Mode: packet.AEADModeOCB}
	seipdCfg := &packet.Config{AEADConfig: &packet.AEADConfig{ChunkSize: aeadChunk}}
	seipd, err := packet.SerializeSymmetricallyEncrypted(&reframer{out: outer}, packet.CipherAES256, e.aead, suite, session, seipdCfg)
	if err != nil {
		return nil, fmt.Errorf("start encrypted data: %w", err)
	}
	ops, salt, err := e.onePass()
	if err != nil {
		return nil, err
	}
	sig, h, err := e.newSignature(salt)
	if err != nil {
		return nil, err
	}
	if _, err := seipd.Write(ops); err != nil {
		return nil, err
	}
	lit := &framer{w: seipd, tag: 11}
	if _, err := lit.Write([]byte{'b', 0, 0, 0, 0, 0}); err != nil { // binary, no name, no date
		return nil, err
	}
	return &encryptWriter{e: e, outer: outer, seipd: seipd, lit: lit, sig: sig, h: h}, nil
}

type encryptWriter struct {
	e      *Encrypter
	outer  *framer
	seipd  io.WriteCloser
	lit    *framer
	sig    *packet.Signature
	h      hash.Hash
	closed bool
}

func (w *encryptWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	return w.lit.Write(p)
}

// Close ends the literal data, signs it, and ends the message.
func (w *encryptWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.lit.Close(); err != nil {
		return err
	}
	if err := w.sig.Sign(w.h, w.e.signer, nil); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	var b bytes.Buffer
	if err := w.sig.Serialize(&b); err != nil {
		return err
	}
	body, hdr := packetBody(b.Bytes())
	sigPacket, err := padSignature(b.Bytes()[hdr:hdr+body], w.e.sigBody)
	if err != nil {
		return err
	}
	if _, err := w.seipd.Write(sigPacket); err != nil {
		return err
	}
	if err := w.seipd.Close(); err != nil {
		return err
	}
	return w.outer.Close()
}

// framer writes one packet of unknown length: its new-format tag, then
// partial lengths of frameChunk, then a definite length for the rest.
type framer struct {
	w      io.Writer
	tag    byte
	buf    []byte
	tagged bool
}

func (f *framer) Write(p []byte) (int, error) {
	if f.buf == nil {
		f.buf = make([]byte, 0, frameChunk)
	}
	n := len(p)
	for len(p) > 0 {
		c := min(len(p), frameChunk-len(f.buf))
		f.buf = append(f.buf, p[:c]...)
		p = p[c:]
		if len(f.buf) == frameChunk {
			if err := f.flush(0xE0 | 16); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (f *framer) flush(header ...byte) error {
	if !f.tagged {
		header = append([]byte{0xC0 | f.tag}, header...)
		f.tagged = true
	}
	if _, err := f.w.Write(header); err != nil {
		return err
	}
	_, err := f.w.Write(f.buf)
	f.buf = f.buf[:0]
	return err
}

// Close writes the rest with a definite length (0 when the body ended on
// a chunk).
func (f *framer) Close() error {
	return f.flush(appendLength(nil, len(f.buf))...)
}

// reframer takes the packet go-crypto writes (its tag, then partial
// lengths that follow its writes' sizes) and passes the body alone on to a
// framer, whose lengths are fixed.
type reframer struct {
	out    *framer
	tagged bool   // the tag byte was skipped
	hdr    []byte // a length header being read
	left   int    // body bytes left in the current part
	final  bool   // the current part is the last
}

func (r *reframer) Write(p []byte) (int, error) {
	n := len(p)
	if !r.tagged && len(p) > 0 {
		r.tagged, p = true, p[1:]
	}
	for len(p) > 0 {
		if r.left > 0 {
			c := min(r.left, len(p))
			if _, err := r.out.Write(p[:c]); err != nil {
				return 0, err
			}
			r.left, p = r.left-c, p[c:]
			continue
		}
		if r.final {
			return 0, errors.New("reframe: bytes after the packet's end")
		}
		r.hdr, p = append(r.hdr, p[0]), p[1:]
		switch b := r.hdr[0]; {
		case b < 192:
			r.left, r.final = int(b), true
		case b < 224:
			if len(r.hdr) < 2 {
				continue
			}
			r.left, r.final = (int(b)-192)<<8+int(r.hdr[1])+192, true
		case b == 255:
			if len(r.hdr) < 5 {
				continue
			}
			r.left, r.final = int(binary.BigEndian.Uint32(r.hdr[1:])), true
		default:
			r.left = 1 << (b & 0x1f)
		}
		r.hdr = r.hdr[:0]
	}
	return n, nil
}
