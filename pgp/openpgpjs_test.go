package pgp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openpgpJS runs OpenPGP.js (npm's openpgp, a third implementation, and
// one that writes RFC 9580 v6 keys and SEIPD v2) on a small script: gen,
// encrypt (to a key, signed) and decrypt (verifying a signer).
const openpgpJS = `
const openpgp = require(process.env.OPENPGP_MODULE);
const fs = require('fs');
const read = (f) => fs.readFileSync(f);
const key = async (f) => openpgp.readKey({ binaryKey: read(f) });
(async () => {
  const [cmd, ...a] = process.argv.slice(2);
  if (cmd === 'gen') {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'curve25519', userIDs: [{ name: 'partner', email: 'partner@acme.test' }], format: 'binary', config: { v6Keys: true } });
    fs.writeFileSync(a[0], privateKey); fs.writeFileSync(a[1], publicKey);
  } else if (cmd === 'encrypt') {
    const signingKeys = await openpgp.readPrivateKey({ binaryKey: read(a[1]) });
    const message = await openpgp.createMessage({ binary: read(a[2]) });
    fs.writeFileSync(a[3], await openpgp.encrypt({ message, encryptionKeys: await key(a[0]), signingKeys, format: 'binary' }));
  } else if (cmd === 'decrypt') {
    const decryptionKeys = await openpgp.readPrivateKey({ binaryKey: read(a[0]) });
    const message = await openpgp.readMessage({ binaryMessage: read(a[2]) });
    const { data, signatures } = await openpgp.decrypt({ message, decryptionKeys, verificationKeys: await key(a[1]), format: 'binary', expectSigned: true });
    await signatures[0].verified;
    fs.writeFileSync(a[3], data);
    console.log('verified ' + signatures[0].keyID.toHex());
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
`

// openpgpJSRun runs the script with args and returns its output.
func openpgpJSRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	root, err := exec.Command("npm", "root", "-g").Output()
	module := filepath.Join(strings.TrimSpace(string(root)), "openpgp")
	if _, serr := os.Stat(module); err != nil || serr != nil {
		t.Fatal("OpenPGP.js not found: npm install -g openpgp@6.3.2 (scripts/test does)")
	}
	script := filepath.Join(dir, "openpgp.js")
	os.WriteFile(script, []byte(openpgpJS), 0o600)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "OPENPGP_MODULE="+module)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openpgp.js %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestV6_OpenPGPJS: with v6 keys on both sides, what OpenPGP.js encrypts
// and signs (SEIPD v2) the gateway decrypts and verifies, and what the
// gateway sends (SEIPD v2, padded v6 signature) OpenPGP.js decrypts and
// verifies.
func TestV6_OpenPGPJS(t *testing.T) {
	dir := t.TempDir()
	gw, gwPublic := newGatewayKey(t, true)
	gwFile, partnerSecret, partnerPublic := filepath.Join(dir, "gw.pgp"), filepath.Join(dir, "p.key"), filepath.Join(dir, "p.pub")
	os.WriteFile(gwFile, gwPublic, 0o600)
	openpgpJSRun(t, dir, "gen", partnerSecret, partnerPublic)
	pub, _ := os.ReadFile(partnerPublic)
	partner, err := ReadPublicKeys(bytes.NewReader(pub), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if partner[0].entity.PrimaryKey.Version != 6 {
		t.Fatalf("OpenPGP.js made a v%d key; want v6", partner[0].entity.PrimaryKey.Version)
	}

	t.Run("inbound", func(t *testing.T) {
		plain := randomText(2<<20+9, 6)
		in, out := filepath.Join(dir, "report.csv"), filepath.Join(dir, "report.csv.pgp")
		os.WriteFile(in, plain, 0o600)
		openpgpJSRun(t, dir, "encrypt", gwFile, partnerSecret, in, out)
		msg, _ := os.ReadFile(out)
		if v, _ := seipd(t, msg); v != 2 {
			t.Fatalf("OpenPGP.js wrote SEIPD v%d; want v2", v)
		}
		d := NewDecrypt(gw, partner, true)
		got, err := decryptAll(d, msg, 255<<10)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Finish = %v; plaintext equal %v", err, bytes.Equal(got, plain))
		}
		if d.Signer() == nil || d.Signer().Fingerprint() != partner[0].Fingerprint() {
			t.Fatalf("Signer = %v; want the partner", d.Signer())
		}
	})
	t.Run("outbound", func(t *testing.T) {
		e, err := NewEncrypter(gw, partner)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, aeadChunk, 1<<20 + 7} {
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
			in, out := filepath.Join(dir, "dl.pgp"), filepath.Join(dir, "dl")
			os.WriteFile(in, msg.Bytes(), 0o600)
			status := openpgpJSRun(t, dir, "decrypt", partnerSecret, gwFile, in, out)
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, plain) || !strings.HasPrefix(status, "verified ") {
				t.Fatalf("%d bytes: OpenPGP.js got %d bytes (equal %v), said %q", n, len(got), bytes.Equal(got, plain), status)
			}
		}
	})
}
