package pgp

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// world is a partner with GnuPG: its own key, another party's key, and the
// gateway's public key imported; and the gateway's side of it.
type world struct {
	gpg       *gpg
	gateway   *Key
	partner   []*Key // the partner's public keys, as the gateway loads them
	partnerFP string
}

func newWorld(t *testing.T, algo string) *world {
	t.Helper()
	g := newGPG(t)
	gw, gwPublic := newGatewayKey(t, false)
	g.importKey(gwPublic)
	g.genKey("partner <partner@acme.test>", algo, "default")
	g.genKey("other <other@elsewhere.test>", "future-default", "default")
	keys, err := ReadPublicKeys(bytes.NewReader(g.export("partner@acme.test", false)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &world{gpg: g, gateway: gw, partner: keys, partnerFP: g.fingerprint("partner@acme.test")}
}

// decryptAll runs msg through a Decrypt in writes of size n, as the
// upload's parts would, and returns the plaintext and Finish's verdict.
func decryptAll(d *Decrypt, msg []byte, n int) ([]byte, error) {
	var plain []byte
	for off := 0; ; off += n {
		end := min(off+n, len(msg))
		chunk := bytes.Clone(msg[off:end])
		out, err := d.Write(chunk, end == len(msg))
		clear(chunk) // the caller reuses its buffers
		if err != nil {
			d.Abort()
			return nil, err
		}
		plain = append(plain, out...)
		if end == len(msg) {
			break
		}
	}
	return plain, d.Finish()
}

func randomText(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	words := []string{"patient", "claim", "ICD-10", "E11.9", "visit", "2026-11-30", "\n", "amount", "12.50"}
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:size]
}

func randomBytes(size int) []byte {
	b := make([]byte, size)
	crand.Read(b)
	return b
}

// TestDecrypt_GnuPGEncryptedAndSigned: what a partner's GnuPG makes is
// decrypted to its exact plaintext and its signer named, whatever the
// key algorithm, framing (a pipe gives partial lengths), compression and
// armor.
func TestDecrypt_GnuPGEncryptedAndSigned(t *testing.T) {
	for _, algo := range []string{"future-default", "rsa3072"} {
		t.Run(algo, func(t *testing.T) {
			w := newWorld(t, algo)
			text := randomText(3<<20+17, 1)
			binary := randomBytes(2<<20 + 5)
			for _, tc := range []struct {
				name  string
				plain []byte
				args  []string
			}{
				{"pipe-compressed", text, nil},
				{"pipe-uncompressed", binary, []string{"-z", "0"}},
				{"armored", text, []string{"--armor"}},
				{"bzip2", text, []string{"--compress-algo", "bzip2"}},
				{"empty", nil, nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					args := append([]string{"--encrypt", "--sign", "-r", "gateway@s3sftpd.test", "-u", "partner@acme.test"}, tc.args...)
					msg := w.gpg.run(tc.plain, args...)
					for _, n := range []int{4 << 10, 255 << 10, 8 << 20} {
						d := NewDecrypt(w.gateway, w.partner, true)
						got, err := decryptAll(d, msg, n)
						if err != nil {
							t.Fatalf("writes of %d: Finish = %v; want nil", n, err)
						}
						if !bytes.Equal(got, tc.plain) {
							t.Fatalf("writes of %d: plaintext of %d bytes differs from the %d sent", n, len(got), len(tc.plain))
						}
						if d.Signer() == nil || d.Signer().Fingerprint() != w.partnerFP {
							t.Fatalf("writes of %d: Signer = %v; want %s", n, d.Signer(), w.partnerFP)
						}
					}
				})
			}
		})
	}
}

func TestDecrypt_Refusals(t *testing.T) {
	w := newWorld(t, "future-default")
	plain := randomText(1<<20, 2)
	g := w.gpg
	signedOnly := g.run(plain, "--sign", "-z", "0", "-u", "partner@acme.test")
	tamperedSignature := bytes.Clone(signedOnly)
	i := bytes.Index(tamperedSignature, plain[1000:1100])
	if i < 0 {
		t.Fatal("plaintext not found in the uncompressed signed message")
	}
	tamperedSignature[i] ^= 0x01
	tamperedCiphertext := g.run(plain, "--encrypt", "--sign", "-r", "gateway@s3sftpd.test", "-u", "partner@acme.test")
	tamperedCiphertext[len(tamperedCiphertext)/2] ^= 0x40
	full := g.run(plain, "--encrypt", "--sign", "-r", "gateway@s3sftpd.test", "-u", "partner@acme.test")

	for _, tc := range []struct {
		name    string
		msg     []byte
		require bool
		want    error
	}{
		{"unsigned", g.run(plain, "--encrypt", "-r", "gateway@s3sftpd.test"), true, ErrUnsigned},
		{"signed-by-another-key", g.run(plain, "--encrypt", "--sign", "-r", "gateway@s3sftpd.test", "-u", "other@elsewhere.test"), true, &UnknownSignerError{}},
		{"tampered-ciphertext", tamperedCiphertext, true, ErrIntegrity},
		{"signature-does-not-match", encryptRaw(t, tamperedSignature, w.gateway), true, ErrBadSignature},
		{"truncated", full[:len(full)-100], true, errRefused},
		{"encrypted-to-another-key", g.run(plain, "--encrypt", "--sign", "-r", "other@elsewhere.test", "-u", "partner@acme.test"), true, ErrNotEncrypted},
		{"signed-not-encrypted", signedOnly, true, ErrNotEncrypted},
		{"passphrase-encrypted", g.run(plain, "--symmetric", "--passphrase", "x"), true, ErrNotEncrypted},
		{"not-openpgp-text", []byte("patient,claim\n1,2\n"), true, ErrNotOpenPGP},
		{"not-openpgp-binary", append([]byte{0}, randomBytes(300000)...), true, ErrNotOpenPGP},
		// Random bytes may start like a packet and be read some way, so the
		// reason varies; it is always a refusal.
		{"random-bytes", randomBytes(300000), true, errRefused},
		{"not-openpgp-empty", nil, true, ErrNotOpenPGP},
		{"not-openpgp-fake-armor", []byte("-----BEGIN PGP MESSAGE-----\n\nnot base64 at all\n-----END PGP MESSAGE-----\n"), true, ErrNotOpenPGP},
		{"trailing-data", append(bytes.Clone(full), randomBytes(1<<20)...), true, errRefused},
		{"unsigned-allowed-without-require", g.run(plain, "--encrypt", "-r", "gateway@s3sftpd.test"), false, nil},
		{"bad-signature-refused-without-require", encryptRaw(t, tamperedSignature, w.gateway), false, ErrBadSignature},
		{"other-signer-ignored-without-require", g.run(plain, "--encrypt", "--sign", "-r", "gateway@s3sftpd.test", "-u", "other@elsewhere.test"), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecrypt(w.gateway, w.partner, tc.require)
			got, err := decryptAll(d, tc.msg, 64<<10)
			var unknown *UnknownSignerError
			switch want := tc.want.(type) {
			case nil:
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("Finish = %v (plaintext %d bytes); want nil and the plaintext", err, len(got))
				}
				if d.Signer() != nil {
					t.Errorf("Signer = %s; want none", d.Signer().Fingerprint())
				}
				return
			case *refusedError:
				if _, ok := Refusal(err); !ok {
					t.Fatalf("Finish = %v; want a refusal", err)
				}
			case *UnknownSignerError:
				if !errors.As(err, &unknown) || unknown.KeyID == 0 {
					t.Fatalf("Finish = %v; want UnknownSignerError with the key ID", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("Finish = %v; want %v", err, want)
				}
			}
			if msg, ok := Refusal(err); !ok || !strings.HasPrefix(msg, "upload refused: ") {
				t.Errorf("Refusal(%v) = %q, %v; want a partner's message", err, msg, ok)
			}
			if d.Signer() != nil {
				t.Errorf("Signer = %s after a refusal; want none", d.Signer().Fingerprint())
			}
		})
	}
}

// TestDecrypt_AEADv6: RFC 9580 v6 keys and SEIPD v2 (AEAD, each mode) with
// partial lengths and compression, as OpenPGP tools after GnuPG 2.2
// write them.
func TestDecrypt_AEADv6(t *testing.T) {
	gw, _ := newGatewayKey(t, true)
	partnerEntity, err := openpgp.NewEntity("partner", "", "partner@acme.test", &packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519})
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	partnerEntity.Serialize(&pub)
	partner, err := ReadPublicKeys(&pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	plain := randomText(5<<20+3, 3)
	// The mode is the recipient's preference: OCB for the gateway's key.
	for _, mode := range []packet.AEADMode{packet.AEADModeOCB} {
		for _, compress := range []bool{false, true} {
			cfg := &packet.Config{AEADConfig: &packet.AEADConfig{DefaultMode: mode}, DefaultCipher: packet.CipherAES256}
			if compress {
				cfg.DefaultCompressionAlgo = packet.CompressionZLIB
			}
			var msg bytes.Buffer
			pw, err := openpgp.Encrypt(&msg, []*openpgp.Entity{gw.entity}, nil, []*openpgp.Entity{partnerEntity}, nil, cfg)
			if err != nil {
				t.Fatal(err)
			}
			pw.Write(plain)
			pw.Close()
			if v, _ := seipd(t, msg.Bytes()); v != 2 {
				t.Fatalf("the message is SEIPD v%d; want v2 (AEAD)", v)
			}
			d := NewDecrypt(gw, partner, true)
			got, err := decryptAll(d, msg.Bytes(), 255<<10)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("AEAD mode %d compressed %v: Finish = %v, %d bytes; want the plaintext", mode, compress, err, len(got))
			}
			if d.Signer() == nil || d.Signer().Fingerprint() != partner[0].Fingerprint() {
				t.Fatalf("AEAD mode %d: Signer = %v; want the partner", mode, d.Signer())
			}
			tampered := bytes.Clone(msg.Bytes())
			tampered[len(tampered)/2] ^= 0x08
			if _, err := decryptAll(NewDecrypt(gw, partner, true), tampered, 255<<10); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("AEAD mode %d, one bit flipped: Finish = %v; want ErrIntegrity", mode, err)
			}
		}
	}
}

func TestDecrypt_AlignsItsOutput(t *testing.T) {
	w := newWorld(t, "future-default")
	plain := randomBytes(3<<20 + 11)
	msg := w.gpg.run(plain, "--encrypt", "--sign", "-z", "0", "-r", "gateway@s3sftpd.test", "-u", "partner@acme.test")
	d := NewDecrypt(w.gateway, w.partner, true)
	d.Align = 64 << 10
	var got []byte
	for off := 0; off < len(msg); off += 100_000 {
		end := min(off+100_000, len(msg))
		out, err := d.Write(msg[off:end], end == len(msg))
		if err != nil {
			t.Fatal(err)
		}
		if end < len(msg) && len(out)%d.Align != 0 {
			t.Fatalf("a Write before the last handed out %d bytes; want a multiple of %d", len(out), d.Align)
		}
		got = append(got, out...)
	}
	if err := d.Finish(); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Finish = %v; plaintext equal: %v", err, bytes.Equal(got, plain))
	}
}

func TestDecrypt_RefusesADecompressionBomb(t *testing.T) {
	w := newWorld(t, "future-default")
	msg := w.gpg.run(make([]byte, 64<<20), "--encrypt", "--sign", "-r", "gateway@s3sftpd.test", "-u", "partner@acme.test")
	d := NewDecrypt(w.gateway, w.partner, true)
	d.MaxPending = 4 << 20
	if _, err := decryptAll(d, msg, len(msg)); !errors.Is(err, ErrExpansion) {
		t.Fatalf("a %d-byte message of 64 MiB of zeros: %v; want ErrExpansion", len(msg), err)
	}
}

func TestDecrypt_AbortEndsIt(t *testing.T) {
	w := newWorld(t, "future-default")
	msg := w.gpg.run(randomBytes(1<<20), "--encrypt", "-r", "gateway@s3sftpd.test")
	d := NewDecrypt(w.gateway, w.partner, true)
	if _, err := d.Write(msg[:len(msg)/2], false); err != nil {
		t.Fatal(err)
	}
	d.Abort()
	d.Abort()
	if err := d.Finish(); err == nil {
		t.Fatal("Finish after Abort = nil; want an error")
	}
}

// errRefused stands for any refusal (a truncated message is refused as
// truncated or as damaged, depending on where it ends).
var errRefused = &refusedError{}

type refusedError struct{}

func (*refusedError) Error() string { return "any refusal" }

// encryptRaw encrypts inner (a packet sequence) to k as SEIPD v1, without
// signing it: a test's way to wrap a signed message it altered.
func encryptRaw(t *testing.T, inner []byte, k *Key) []byte {
	t.Helper()
	ek, ok := k.entity.EncryptionKey(time.Now(), nil)
	if !ok {
		t.Fatal("no encryption key")
	}
	session := randomBytes(32)
	var buf bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&buf, ek.PublicKey, packet.CipherAES256, false, session, nil); err != nil {
		t.Fatal(err)
	}
	w, err := packet.SerializeSymmetricallyEncrypted(&buf, packet.CipherAES256, false, packet.CipherSuite{}, session, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(inner)
	w.Close()
	return buf.Bytes()
}

// seipd is the version and AEAD mode of msg's encrypted data packet.
func seipd(t *testing.T, msg []byte) (int, packet.AEADMode) {
	t.Helper()
	r := packet.NewReader(bytes.NewReader(msg))
	for {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("no encrypted data packet: %v", err)
		}
		if se, ok := p.(*packet.SymmetricallyEncrypted); ok {
			return se.Version, se.Mode
		}
	}
}

// Decrypt is an upload stage (s3fs/upload's Stage, by its methods).
var _ interface {
	Write(p []byte, last bool) ([]byte, error)
	Finish() error
	Abort()
} = (*Decrypt)(nil)
