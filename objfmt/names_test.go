package objfmt

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	master := make([]byte, KeySize)
	rand.Read(master)
	n, err := NewNames(master, "bucket", "partners/acme/")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewNames(master, "bucket", "partners/other/")
	for _, name := range []string{"a", "SMITH_JOHN_1970-01-01_labs.csv", "ünïcødé 名前.txt", strings.Repeat("x", 255)} {
		enc := n.Encrypt(name)
		if enc != n.Encrypt(name) {
			t.Errorf("Encrypt(%q) is not deterministic", name)
		}
		if len(enc) != EncryptedLen(len(name)) {
			t.Errorf("len(Encrypt(%q)) = %d; want %d", name, len(enc), EncryptedLen(len(name)))
		}
		if strings.Trim(enc, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Errorf("Encrypt(%q) = %q uses characters outside lower-case base32", name, enc)
		}
		if got, err := n.Decrypt(enc); got != name || err != nil {
			t.Errorf("Decrypt(Encrypt(%q)) = %q, %v", name, got, err)
		}
		if other.Encrypt(name) == enc {
			t.Errorf("two tenants encrypt %q alike", name)
		}
		if _, err := other.Decrypt(enc); !errors.Is(err, ErrBadName) {
			t.Errorf("another tenant decrypted %q: %v", name, err)
		}
	}
	enc := n.Encrypt("report.csv")
	for _, bad := range []string{"", "abc", strings.ToUpper(enc), enc[:len(enc)-1], "a" + enc[1:], enc + "a", "report.csv"} {
		if bad == enc {
			continue
		}
		if got, err := n.Decrypt(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Decrypt(%q) = %q, %v; want ErrBadName", bad, got, err)
		}
	}
}
