package crypt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
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

func TestKeyring_WrapUnwrapRewrap(t *testing.T) {
	old, cur := newTestKEK(t), newTestKEK(t)
	oldRing := NewKeyring(old)
	key, meta := oldRing.NewDataKey()
	meta["s3sftpd-sha256"] = "kept"
	if !Encrypted(meta) {
		t.Fatal("Encrypted(meta) = false")
	}
	if _, err := NewKeyring(cur).DataKey(meta); !errors.Is(err, ErrUnknownKEK) {
		t.Errorf("unwrap without the old KEK: %v; want ErrUnknownKEK", err)
	}
	ring := NewKeyring(cur, old)
	if got, err := ring.DataKey(meta); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap with the old KEK = %v; want the data key", err)
	}
	rewrapped, changed, err := ring.Rewrap(meta)
	if err != nil || !changed || rewrapped[MetaKEK] != cur.ID || rewrapped["s3sftpd-sha256"] != "kept" {
		t.Fatalf("rewrap = %v, %v, %v", rewrapped, changed, err)
	}
	if got, err := NewKeyring(cur).DataKey(rewrapped); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap rewrapped with the current KEK only: %v", err)
	}
	if _, changed, _ := ring.Rewrap(rewrapped); changed {
		t.Error("rewrap of an object already under the current KEK changed it")
	}
}

// TestKeyring_ReadOnly: a keyring with old KEKs and no current one (data
// keys from KMS) unwraps what they wrapped and refuses to rewrap.
func TestKeyring_ReadOnly(t *testing.T) {
	old := newTestKEK(t)
	key, meta := NewKeyring(old).NewDataKey()
	ring := NewKeyring(nil, old)
	if got, err := ring.DataKey(meta); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap with a read-only keyring = %v; want the data key", err)
	}
	if _, _, err := ring.Rewrap(meta); err == nil {
		t.Error("a keyring with no current KEK rewrapped a data key")
	}
}

// TestWithDataKey: the key fields are replaced whatever their case, and a
// KMS encryption context does not outlive the KMS wrapping it described.
func TestWithDataKey(t *testing.T) {
	meta := map[string]string{"S3sftpd-Enc": "1", "s3sftpd-kek": "kms:arn", "S3SFTPD-DEK": "blob",
		"s3sftpd-tenant": "b/home/", "s3sftpd-mtime": "kept"}
	got := WithDataKey(meta, map[string]string{MetaVersion: Version, MetaKEK: "id", MetaDEK: "wrapped"})
	want := map[string]string{MetaVersion: Version, MetaKEK: "id", MetaDEK: "wrapped", "s3sftpd-mtime": "kept"}
	if !maps.Equal(got, want) {
		t.Errorf("WithDataKey = %v; want %v", got, want)
	}
}

func TestKeyring_TamperedMetadata(t *testing.T) {
	k := newTestKEK(t)
	ring := NewKeyring(k)
	_, meta := ring.NewDataKey()
	_, other := ring.NewDataKey()
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
		"other-version": func() map[string]string { m := maps.Clone(meta); m[MetaVersion] = "2"; return m }(),
		"unknown-kek":   func() map[string]string { m := maps.Clone(meta); m[MetaKEK] = "0011223344556677"; return m }(),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ring.DataKey(m); err == nil {
				t.Error("DataKey succeeded; want an error")
			}
		})
	}
	if a, _ := ring.DataKey(meta); bytes.Equal(a, must(ring.DataKey(other))) {
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
