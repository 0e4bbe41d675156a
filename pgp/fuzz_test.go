package pgp

import (
	"bytes"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// FuzzDecrypt: whatever a partner uploads to a decrypting folder, the
// stage ends (no panic, no hang) and passes nothing it could not verify.
func FuzzDecrypt(f *testing.F) {
	gw, err := openpgp.NewEntity("gateway", "", "gateway@s3sftpd.test", nil)
	if err != nil {
		f.Fatal(err)
	}
	partner, err := openpgp.NewEntity("partner", "", "partner@acme.test", nil)
	if err != nil {
		f.Fatal(err)
	}
	var secret, public bytes.Buffer
	gw.SerializePrivate(&secret, nil)
	partner.Serialize(&public)
	gwKey, err := ReadPrivateKey(&secret, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	partnerKeys, err := ReadPublicKeys(&public, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	for _, compress := range []packet.CompressionAlgo{packet.CompressionNone, packet.CompressionZLIB} {
		var msg bytes.Buffer
		w, err := openpgp.Encrypt(&msg, []*openpgp.Entity{gw}, nil, []*openpgp.Entity{partner}, nil, &packet.Config{DefaultCompressionAlgo: compress})
		if err != nil {
			f.Fatal(err)
		}
		w.Write([]byte("patient,claim\n1,2\n"))
		w.Close()
		f.Add(msg.Bytes(), uint16(7))
	}
	f.Add([]byte("-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----\n"), uint16(3))
	f.Add([]byte{0xc1, 0x0c, 0x03}, uint16(1))
	f.Fuzz(func(t *testing.T, msg []byte, n uint16) {
		d := NewDecrypt(gwKey, partnerKeys, true)
		d.MaxPending = 1 << 20
		_, err := decryptAll(d, msg, 1+int(n))
		if err == nil && (d.Signer() == nil || d.Signer().Fingerprint() != partnerKeys[0].Fingerprint()) {
			t.Fatalf("Finish = nil without the partner's signature (signer %v)", d.Signer())
		}
	})
}
