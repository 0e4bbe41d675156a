package pgp

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// rnp is RNP (Thunderbird's OpenPGP, Debian's rnp), a second implementation
// for interop: it writes the AEAD OCB packet of LibrePGP (tag 20), the one
// GnuPG 2.4 writes by default for its own keys, which Debian 12's GnuPG
// 2.2 cannot.
func rnp(t *testing.T, home string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(args[0], append([]string{"--homedir", home}, args[1:]...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

func TestDecrypt_RNPAEADOCB(t *testing.T) {
	if _, err := exec.LookPath("rnp"); err != nil {
		t.Fatal("rnp not found: install Debian's rnp (scripts/test does)")
	}
	home := t.TempDir()
	gw, gwPublic := newGatewayKey(t, false)
	gwFile := filepath.Join(home, "gateway.pgp")
	os.WriteFile(gwFile, gwPublic, 0o600)
	rnp(t, home, "rnpkeys", "--import", gwFile)
	rnp(t, home, "rnpkeys", "--generate-key", "--userid", "partner <partner@acme.test>", "--password", "")
	partner, err := ReadPublicKeys(bytes.NewReader(rnp(t, home, "rnpkeys", "--export-key", "partner@acme.test")), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	plain := randomText(3<<20+5, 5)
	in := filepath.Join(home, "report.csv")
	os.WriteFile(in, plain, 0o600)
	for _, tc := range []struct{ name, aead, z string }{
		{"ocb", "--aead=OCB", "0"},
		{"ocb-compressed", "--aead=OCB", "6"},
		{"eax", "--aead=EAX", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report.csv.pgp")
			rnp(t, home, "rnp", "--encrypt", "--sign", "-r", "gateway@s3sftpd.test", "-u", "partner@acme.test",
				tc.aead, "-z", tc.z, "--password", "", "--output", out, in)
			msg, _ := os.ReadFile(out)
			if !hasPacket(t, msg, func(p packet.Packet) bool { _, ok := p.(*packet.AEADEncrypted); return ok }) {
				t.Fatal("rnp wrote no AEAD encrypted data packet (tag 20)")
			}
			d := NewDecrypt(gw, partner, true)
			got, err := decryptAll(d, msg, 255<<10)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("Finish = %v; plaintext equal %v", err, bytes.Equal(got, plain))
			}
			if d.Signer() == nil || d.Signer().Fingerprint() != partner[0].Fingerprint() {
				t.Fatalf("Signer = %v; want the partner", d.Signer())
			}
			tampered := bytes.Clone(msg)
			tampered[len(tampered)*2/3] ^= 0x10
			if _, err := decryptAll(NewDecrypt(gw, partner, true), tampered, 255<<10); !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("one bit flipped: Finish = %v; want a refusal as altered", err)
			}
		})
	}
}

// hasPacket reports whether msg's top-level packets include one is says.
func hasPacket(t *testing.T, msg []byte, is func(packet.Packet) bool) bool {
	t.Helper()
	r := packet.NewReader(bytes.NewReader(msg))
	for {
		p, err := r.Next()
		if err != nil {
			return false
		}
		if is(p) {
			return true
		}
	}
}

// TestEncrypter_RNPDecryptsAndVerifies: a second implementation reads what
// the gateway sends, padded signature included.
func TestEncrypter_RNPDecryptsAndVerifies(t *testing.T) {
	if _, err := exec.LookPath("rnp"); err != nil {
		t.Fatal("rnp not found: install Debian's rnp (scripts/test does)")
	}
	home := t.TempDir()
	gw, gwPublic := newGatewayKey(t, false)
	gwFile := filepath.Join(home, "gateway.pgp")
	os.WriteFile(gwFile, gwPublic, 0o600)
	rnp(t, home, "rnpkeys", "--import", gwFile)
	rnp(t, home, "rnpkeys", "--generate-key", "--userid", "partner <partner@acme.test>", "--password", "")
	partner, err := ReadPublicKeys(bytes.NewReader(rnp(t, home, "rnpkeys", "--export-key", "partner@acme.test")), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEncrypter(gw, partner)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, frameChunk - 6, 2<<20 + 1} {
		plain := randomBytes(n)
		var msg bytes.Buffer
		w, _ := e.Encrypt(&msg)
		w.Write(plain)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if int64(msg.Len()) != e.Size(int64(n)) {
			t.Fatalf("%d bytes: Size = %d; message %d", n, e.Size(int64(n)), msg.Len())
		}
		in := filepath.Join(t.TempDir(), "report.csv.pgp")
		out := filepath.Join(t.TempDir(), "report.csv")
		os.WriteFile(in, msg.Bytes(), 0o600)
		cmd := exec.Command("rnp", "--homedir", home, "--decrypt", "--password", "", "--output", out, in)
		status, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%d bytes: rnp --decrypt: %v\n%s", n, err, status)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: rnp decrypted %d bytes that differ", n, len(got))
		}
		if !strings.Contains(string(status), "Good signature") || !strings.Contains(string(status), "gateway@s3sftpd.test") {
			t.Fatalf("%d bytes: rnp did not verify the gateway's signature:\n%s", n, status)
		}
	}
}
