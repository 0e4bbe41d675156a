package objfmt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestKEK(t *testing.T) *KEK {
	t.Helper()
	key := make([]byte, KeySize)
	rand.Read(key)
	k, err := NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	acmeF = Binding{Bucket: "b", Home: "partners/acme/", Key: "f.csv"}
	acmeG = Binding{Bucket: "b", Home: "partners/acme/", Key: "g.csv"}
)

func TestKeyring_WrapUnwrap(t *testing.T) {
	old, cur := newTestKEK(t), newTestKEK(t)
	oldRing := NewKeyring(old)
	key, meta := oldRing.NewDataKey(acmeF)
	meta["s3sftpd-sha256"] = "kept"
	if !Encrypted(meta) || meta[MetaVersion] != "2" || len(meta[MetaObjectID]) != 32 || meta[MetaContext] != "b/partners/acme/" {
		t.Fatalf("metadata %v; want version 2 with an object id and the tenant", meta)
	}
	if _, err := NewKeyring(cur).DataKey(meta, acmeF); !errors.Is(err, ErrUnknownKEK) {
		t.Errorf("unwrap without the old KEK: %v; want ErrUnknownKEK", err)
	}
	ring := NewKeyring(cur, old)
	if got, err := ring.DataKey(meta, acmeF); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap with the old KEK = %v; want the data key", err)
	}
	moved := WithDataKey(meta, ring.Wrap(key, acmeG, meta[MetaObjectID]))
	if moved[MetaKEK] != cur.ID || moved["s3sftpd-sha256"] != "kept" || moved[MetaObjectID] != meta[MetaObjectID] {
		t.Fatalf("rewrapped metadata %v", moved)
	}
	if got, err := NewKeyring(cur).DataKey(moved, acmeG); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap rewrapped with the current KEK only: %v", err)
	}
}

// TestKeyring_Binding: a version-2 data key unwraps only where it was bound:
// not in another bucket, home or name, nor with another object id; a
// version-1 one (bound to nothing) unwraps anywhere.
func TestKeyring_Binding(t *testing.T) {
	k := newTestKEK(t)
	ring := NewKeyring(k)
	_, meta := ring.NewDataKey(acmeF)
	for name, b := range map[string]Binding{
		"other-name":   acmeG,
		"other-home":   {Bucket: "b", Home: "partners/evil/", Key: "f.csv"},
		"other-bucket": {Bucket: "b2", Home: "partners/acme/", Key: "f.csv"},
		"split-moved":  {Bucket: "b", Home: "partners/", Key: "acme/f.csv"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ring.DataKey(meta, b); !errors.Is(err, ErrAuth) {
				t.Errorf("unwrap at %+v = %v; want ErrAuth", b, err)
			}
		})
	}
	for _, id := range []string{NewObjectID(), "", strings.ToUpper(meta[MetaObjectID]), meta[MetaObjectID] + "\x00x"} {
		otherID := maps.Clone(meta)
		otherID[MetaObjectID] = id
		if _, err := ring.DataKey(otherID, acmeF); !errors.Is(err, ErrAuth) {
			t.Errorf("unwrap with object id %q = %v; want ErrAuth", id, err)
		}
	}
	dk := make([]byte, KeySize)
	rand.Read(dk)
	v1 := map[string]string{MetaVersion: "1", MetaKEK: k.ID,
		MetaDEK: base64.StdEncoding.EncodeToString(k.wrap(dk, []byte("s3sftpd-dek-v1\x00"+k.ID)))}
	if got, err := ring.DataKey(v1, acmeG); err != nil || !bytes.Equal(got, dk) {
		t.Errorf("version-1 unwrap = %v; want the data key", err)
	}
	downgraded := maps.Clone(meta)
	downgraded[MetaVersion] = "1"
	if _, err := ring.DataKey(downgraded, acmeF); !errors.Is(err, ErrAuth) {
		t.Errorf("version-2 key read as version 1 = %v; want ErrAuth", err)
	}
}

// TestBindingOf: a tool reading s3://bucket/key takes the home from the
// metadata only when it is the bucket's and a prefix of key.
func TestBindingOf(t *testing.T) {
	meta := map[string]string{MetaContext: "b/partners/acme/"}
	if got, err := BindingOf(meta, "b", "partners/acme/f.csv"); err != nil || got != acmeF {
		t.Errorf("BindingOf = %+v, %v; want %+v", got, err, acmeF)
	}
	for _, c := range [][2]string{{"b", "partners/evil/f.csv"}, {"b2", "partners/acme/f.csv"}} {
		if _, err := BindingOf(meta, c[0], c[1]); !errors.Is(err, ErrAuth) {
			t.Errorf("BindingOf(s3://%s/%s) = %v; want ErrAuth", c[0], c[1], err)
		}
	}
}

// TestWithDataKey: the key fields are replaced whatever their case, and a
// KMS encryption context does not outlive the KMS wrapping it described.
func TestWithDataKey(t *testing.T) {
	meta := map[string]string{"S3sftpd-Enc": "1", "s3sftpd-kek": "kms:arn", "S3SFTPD-DEK": "blob",
		"s3sftpd-tenant": "b/home/", "S3sftpd-Oid": "00", "s3sftpd-mtime": "kept"}
	got := WithDataKey(meta, map[string]string{MetaVersion: Version, MetaKEK: "id", MetaDEK: "wrapped"})
	want := map[string]string{MetaVersion: Version, MetaKEK: "id", MetaDEK: "wrapped", "s3sftpd-mtime": "kept"}
	if !maps.Equal(got, want) {
		t.Errorf("WithDataKey = %v; want %v", got, want)
	}
}

func TestKeyring_TamperedMetadata(t *testing.T) {
	k := newTestKEK(t)
	ring := NewKeyring(k)
	_, meta := ring.NewDataKey(acmeF)
	_, other := ring.NewDataKey(acmeF)
	flip := func(m map[string]string) map[string]string {
		b, _ := base64.StdEncoding.DecodeString(m[MetaDEK])
		b[20] ^= 1
		m[MetaDEK] = base64.StdEncoding.EncodeToString(b)
		return m
	}
	cases := map[string]map[string]string{
		"flipped-dek":   flip(maps.Clone(meta)),
		"bad-base64":    func() map[string]string { m := maps.Clone(meta); m[MetaDEK] = "%%"; return m }(),
		"short-dek":     func() map[string]string { m := maps.Clone(meta); m[MetaDEK] = m[MetaDEK][:20]; return m }(),
		"other-version": func() map[string]string { m := maps.Clone(meta); m[MetaVersion] = "3"; return m }(),
		"unknown-kek":   func() map[string]string { m := maps.Clone(meta); m[MetaKEK] = "0011223344556677"; return m }(),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ring.DataKey(m, acmeF); err == nil {
				t.Error("DataKey succeeded; want an error")
			}
		})
	}
	if a, _ := ring.DataKey(meta, acmeF); bytes.Equal(a, must(ring.DataKey(other, acmeF))) {
		t.Error("two objects got the same data key")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestLoadKEKFile(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, KeySize)
	rand.Read(key)
	good := filepath.Join(dir, "kek")
	os.WriteFile(good, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
	k, err := LoadKEKFile(good)
	if err != nil || k.ID != KeyID(key) {
		t.Fatalf("LoadKEKFile = %v; want the key", err)
	}
	for name, c := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"group-readable": {base64.StdEncoding.EncodeToString(key), 0o640, "chmod 600"},
		"other-readable": {base64.StdEncoding.EncodeToString(key), 0o604, "chmod 600"},
		"short":          {base64.StdEncoding.EncodeToString(key[:16]), 0o600, "32 random bytes"},
		"not-base64":     {"not a key", 0o600, "32 random bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			os.WriteFile(p, []byte(c.body), c.mode)
			os.Chmod(p, c.mode)
			if _, err := LoadKEKFile(p); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("LoadKEKFile = %v; want an error saying %q", err, c.want)
			}
		})
	}
}

// TestKeyring_DocumentedWrap: a data key wrapped as docs/envelope-format.md
// says, with crypto/cipher alone, unwraps at the place it names.
func TestKeyring_DocumentedWrap(t *testing.T) {
	k := newTestKEK(t)
	dk := make([]byte, KeySize)
	rand.Read(dk)
	id := NewObjectID()
	block, _ := aes.NewCipher(k.key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	aad := "s3sftpd-dek-v2\x00" + k.ID + "\x00b\x00partners/acme/\x00" + id + "\x00f.csv"
	meta := map[string]string{MetaVersion: "2", MetaKEK: k.ID, MetaContext: "b/partners/acme/", MetaObjectID: id,
		MetaDEK: base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, dk, []byte(aad)))}
	b, err := BindingOf(meta, "b", "partners/acme/f.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := NewKeyring(k).DataKey(meta, b); err != nil || !bytes.Equal(got, dk) {
		t.Errorf("unwrap of the documented wrap = %v; want the data key", err)
	}
	sum := sha256.Sum256([]byte("s3sftpd-object-v2\x00" + id + "\x00f.csv"))
	if got := BindingDigest(b, id); got != hex.EncodeToString(sum[:]) {
		t.Errorf("BindingDigest = %s; want the documented SHA-256", got)
	}
}
