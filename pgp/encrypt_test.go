package pgp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// newKey makes a key with go-crypto, public and secret: v4, or v6 for
// the RFC 9580 algorithms (Ed25519, Ed448).
func newKey(t *testing.T, algo packet.PublicKeyAlgorithm, bits int) (*Key, *Key) {
	t.Helper()
	cfg := &packet.Config{Algorithm: algo, RSABits: bits}
	if algo == packet.PubKeyAlgoEd25519 || algo == packet.PubKeyAlgoEd448 {
		cfg.V6Keys = true
	}
	if algo == packet.PubKeyAlgoECDSA {
		cfg.Curve = packet.CurveNistP256
	}
	e, err := openpgp.NewEntity("k", "", fmt.Sprintf("k%d-%d@s3sftpd.test", algo, bits), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var secret, public bytes.Buffer
	e.SerializePrivate(&secret, nil)
	e.Serialize(&public)
	priv, err := ReadPrivateKey(&secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ReadPublicKeys(&public, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub[0]
}

// encryptWrites encrypts plain written in pieces of sizes drawn by rng.
func encryptWrites(t *testing.T, e *Encrypter, plain []byte, rng *rand.Rand) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := e.Encrypt(&out)
	if err != nil {
		t.Fatal(err)
	}
	for p := plain; len(p) > 0; {
		n := min(len(p), 1+rng.IntN(300000))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestEncrypter_SizeIsExact: the size announced before encrypting is the
// length of the message, for every plaintext size around the framing's
// boundaries and for every key kind, however the plaintext is written, and
// whatever the leading zeros of RSA's outputs (hundreds of messages).
func TestEncrypter_SizeIsExact(t *testing.T) {
	edGateway, edPartner := newKey(t, packet.PubKeyAlgoEdDSA, 0)
	rsaGateway, rsaPartner := newKey(t, packet.PubKeyAlgoRSA, 2048)
	_, ecdsaPartner := newKey(t, packet.PubKeyAlgoECDSA, 0)
	v6Gateway, v6Partner := newKey(t, packet.PubKeyAlgoEd25519, 0)
	_, v6Partner448 := newKey(t, packet.PubKeyAlgoEd448, 0)
	sizes := []int{0, 1, 2, 100, 191, 192, 193, 8383, 8384, 8385}
	for _, base := range []int{frameChunk, 2 * frameChunk, 17 * frameChunk, aeadChunk, 2 * aeadChunk} {
		for _, d := range []int{-30, -29, -28, -27, -6, -1, 0, 1, 6, 191, 8383, 8384} {
			sizes = append(sizes, base+d)
		}
	}
	sizes = append(sizes, 3<<20+12345)
	rng := rand.New(rand.NewPCG(7, 7))
	plain := make([]byte, 3<<20+12345)
	for i := range plain {
		plain[i] = byte(rng.Uint32())
	}
	for _, tc := range []struct {
		name       string
		gateway    *Key
		recipients []*Key
	}{
		{"ed25519-to-cv25519", edGateway, []*Key{edPartner}},
		{"rsa-to-rsa", rsaGateway, []*Key{rsaPartner}},
		{"ed25519-to-rsa-and-ecdsa", edGateway, []*Key{rsaPartner, ecdsaPartner}},
		{"rsa-to-cv25519", rsaGateway, []*Key{edPartner}},
		{"v6-ed25519-to-x25519-and-x448", v6Gateway, []*Key{v6Partner, v6Partner448}},
		{"v4-gateway-to-v6", edGateway, []*Key{v6Partner}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEncrypter(tc.gateway, tc.recipients)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range sizes {
				msg := encryptWrites(t, e, plain[:n], rng)
				if int64(len(msg)) != e.Size(int64(n)) {
					t.Fatalf("Size(%d) = %d; the message is %d bytes", n, e.Size(int64(n)), len(msg))
				}
			}
			// RSA's outputs have a leading zero byte once in 256: many
			// small messages meet some.
			for i := range 300 {
				if msg := encryptWrites(t, e, plain[:i], rng); int64(len(msg)) != e.Size(int64(i)) {
					t.Fatalf("message %d: Size = %d; the message is %d bytes", i, e.Size(int64(i)), len(msg))
				}
			}
		})
	}
}

// TestEncrypter_GnuPGDecryptsAndVerifies: what the gateway sends, the
// partner's GnuPG decrypts to the plaintext and verifies as signed by the
// gateway's key.
func TestEncrypter_GnuPGDecryptsAndVerifies(t *testing.T) {
	for _, algo := range []string{"future-default", "rsa3072"} {
		t.Run(algo, func(t *testing.T) {
			w := newWorld(t, algo)
			e, err := NewEncrypter(w.gateway, w.partner)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(9, 9))
			// frameChunk-6: the literal packet ends on a chunk (a zero-length last part).
			for _, n := range []int{0, 5, frameChunk - 6, frameChunk - 29, frameChunk, 4<<20 + 3} {
				plain := randomBytes(n)
				msg := encryptWrites(t, e, plain, rng)
				in := filepath.Join(t.TempDir(), "report.csv.pgp")
				os.WriteFile(in, msg, 0o600)
				out := filepath.Join(t.TempDir(), "report.csv")
				status, err := w.gpg.try(nil, "--status-fd", "1", "--output", out, "--decrypt", in)
				if err != nil {
					t.Fatalf("%d bytes: gpg --decrypt: %v", n, err)
				}
				got, _ := os.ReadFile(out)
				if !bytes.Equal(got, plain) {
					t.Fatalf("%d bytes: gpg decrypted %d bytes that differ", n, len(got))
				}
				if !strings.Contains(string(status), "[GNUPG:] VALIDSIG "+w.gateway.Fingerprint()) &&
					!strings.Contains(string(status), " "+w.gateway.Fingerprint()+"\n") {
					t.Fatalf("%d bytes: gpg did not verify the gateway's signature:\n%s", n, status)
				}
				if !strings.Contains(string(status), "[GNUPG:] GOODSIG ") || !strings.Contains(string(status), "[GNUPG:] DECRYPTION_OKAY") {
					t.Fatalf("%d bytes: gpg status:\n%s", n, status)
				}
			}
		})
	}
}

// TestEncrypter_OwnDecryptReadsIt: a message the gateway encrypted to a
// key reads back with Decrypt (go-crypto's reader), signed by the
// gateway: v4 keys get SEIPD v1, v6 keys SEIPD v2 (AEAD).
func TestEncrypter_OwnDecryptReadsIt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		algo    packet.PublicKeyAlgorithm
		version int
	}{{"v4", packet.PubKeyAlgoEdDSA, 1}, {"v6", packet.PubKeyAlgoEd25519, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			gw, gwPublic := newKey(t, tc.algo, 0)
			e, err := NewEncrypter(gw, []*Key{gwPublic})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{0, 1, aeadChunk - 40, 1<<20 + 3} {
				plain := randomText(n, 4)
				msg := encryptWrites(t, e, plain, rand.New(rand.NewPCG(1, 1)))
				if v, _ := seipd(t, msg); v != tc.version {
					t.Fatalf("SEIPD v%d; want v%d", v, tc.version)
				}
				d := NewDecrypt(gw, []*Key{gwPublic}, true)
				got, err := decryptAll(d, msg, 32<<10)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("%d bytes: Finish = %v; plaintext equal %v", n, err, bytes.Equal(got, plain))
				}
			}
		})
	}
}

func TestNewEncrypter_RefusesMixedKeyVersions(t *testing.T) {
	gw, v4 := newKey(t, packet.PubKeyAlgoEdDSA, 0)
	_, v6 := newKey(t, packet.PubKeyAlgoEd25519, 0)
	if _, err := NewEncrypter(gw, []*Key{v4, v6}); err == nil || !strings.Contains(err.Error(), "mix v4 and v6") {
		t.Fatalf("NewEncrypter(v4 and v6 keys) = %v; want a refusal", err)
	}
}
