package objfmt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"testing"
)

// TestEncryptionContext_Documented: the context is the one
// docs/envelope-format.md gives an independent decryptor: the tenant, and
// from version 2 the SHA-256 of the object id and the key below the home.
func TestEncryptionContext_Documented(t *testing.T) {
	id := NewObjectID()
	sum := sha256.Sum256([]byte("s3sftpd-object-v2\x00" + id + "\x00f.csv"))
	want := map[string]string{"s3sftpd-tenant": "b/partners/acme/", "s3sftpd-object": hex.EncodeToString(sum[:])}
	if got := EncryptionContext(Version, acmeF, id); !maps.Equal(got, want) {
		t.Errorf("version 2: got %v; want %v", got, want)
	}
	want1 := map[string]string{"s3sftpd-tenant": "b/partners/acme/"}
	if got := EncryptionContext(Version1, acmeF, ""); !maps.Equal(got, want1) {
		t.Errorf("version 1: got %v; want %v", got, want1)
	}
}

// TestKMSMetadata_RoundTrip: the metadata written for a KMS blob hands the
// same blob and the context it was wrapped under back to a reader at the
// same place, and marks the key as KMS's.
func TestKMSMetadata_RoundTrip(t *testing.T) {
	id := NewObjectID()
	blob := []byte("ciphertext blob")
	meta := KMSMetadata("arn:aws:kms:us-east-1:111122223333:key/k", blob, acmeF, id)
	if !KMSWrapped(meta) || !Encrypted(meta) || meta[MetaKEK] != "kms:arn:aws:kms:us-east-1:111122223333:key/k" {
		t.Errorf("metadata %v; want a KMS-wrapped version-2 key", meta)
	}
	got, ctx, err := KMSCiphertext(meta, acmeF)
	if err != nil || !bytes.Equal(got, blob) || !maps.Equal(ctx, EncryptionContext(Version, acmeF, id)) {
		t.Errorf("KMSCiphertext = %q, %v, %v; want the blob and the version-2 context", got, ctx, err)
	}
	if KMSWrapped(map[string]string{MetaKEK: "0123456789abcdef"}) {
		t.Error("a KEK-wrapped key reads as KMS-wrapped")
	}
}

// TestKMSCiphertext_Refuses: tampered metadata is ErrAuth before KMS is
// asked; an unknown version says which.
func TestKMSCiphertext_Refuses(t *testing.T) {
	if _, _, err := KMSCiphertext(map[string]string{MetaVersion: "2", MetaDEK: "not base64!"}, acmeF); !errors.Is(err, ErrAuth) {
		t.Errorf("bad blob: %v; want ErrAuth", err)
	}
	if _, _, err := KMSCiphertext(map[string]string{MetaVersion: "3", MetaDEK: ""}, acmeF); err == nil || errors.Is(err, ErrAuth) {
		t.Errorf("version 3: %v; want an unsupported-version error", err)
	}
}

// TestRecordedBinding: a tool that knows no tenant binds a version-2
// object where its metadata says (BindingOf), a version-1 KMS key to its
// tenant, and a version-1 KEK key to nothing.
func TestRecordedBinding(t *testing.T) {
	v2 := map[string]string{MetaVersion: "2", MetaContext: "b/partners/acme/"}
	if got, err := RecordedBinding(v2, "b", "partners/acme/f.csv"); err != nil || got != acmeF {
		t.Errorf("version 2 = %+v, %v; want %+v", got, err, acmeF)
	}
	if _, err := RecordedBinding(v2, "b", "partners/evil/f.csv"); !errors.Is(err, ErrAuth) {
		t.Errorf("version 2 elsewhere = %v; want ErrAuth", err)
	}
	v1KMS := map[string]string{MetaVersion: "1", MetaContext: "b/partners/acme/"}
	if got, err := RecordedBinding(v1KMS, "b", "anywhere/f.csv"); err != nil || got != (Binding{Bucket: "b", Home: "partners/acme/"}) {
		t.Errorf("version 1 KMS = %+v, %v; want the tenant alone", got, err)
	}
	if got, err := RecordedBinding(map[string]string{MetaVersion: "1"}, "b", "f.csv"); err != nil || got != (Binding{}) {
		t.Errorf("version 1 KEK = %+v, %v; want no binding", got, err)
	}
}
