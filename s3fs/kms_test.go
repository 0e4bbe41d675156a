package s3fs

import (
	"bytes"
	"encoding/base64"
	"maps"
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/crypt"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/store"
)

// kmsKey starts local-kms and creates a key in it: the client and the key's ARN.
func kmsKey(t *testing.T) (store.KMSClient, string) {
	t.Helper()
	client := s3test.KMSClient(s3test.StartKMS(t))
	return store.KMSClientOf(client), s3test.NewKMSKey(t, client)
}

// TestKMS: with data keys from KMS (local-kms, through the real SDK), files
// round-trip; the metadata holds a KMS blob bound to the tenant; an object
// moved into another tenant's home, or with its blob altered, fails to
// open; `decrypt` opens it with the tenant recorded in its metadata.
func TestKMS(t *testing.T) {
	srv := s3test.Start(t)
	client, keyARN := kmsKey(t)
	cfg := testConfig(srv, ChecksumsCompat)
	cfg.Envelope, cfg.KMS = true, &KMS{Client: client, KeyID: keyARN}
	e := envOn(t, srv, cfg)
	acme := e.session(t, "partners/acme/", auth.AllPerms)
	other := e.session(t, "partners/other/", auth.AllPerms)

	plain := randBytes(2*minPartSize + 99)
	if err := writeFile(t, acme, "/f", plain); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, acme, "/f"); !bytes.Equal(got, plain) {
		t.Fatal("download differs from the upload")
	}
	stored, meta := rawObject(t, e, "partners/acme/f")
	if kek := meta[crypt.MetaKEK]; !strings.HasPrefix(kek, "kms:") || meta[metaContext] != srv.Bucket+"/partners/acme/" {
		t.Errorf("metadata %v; want a KMS-wrapped key for the tenant", meta)
	}

	putRaw(t, e, "partners/other/f", stored, meta)
	if _, err := readAll(other, "/f"); err == nil || !strings.Contains(err.Error(), "integrity check") {
		t.Errorf("another tenant opened acme's object: %v; want an integrity failure", err)
	}
	bad := maps.Clone(meta)
	blob, _ := base64.StdEncoding.DecodeString(bad[crypt.MetaDEK])
	blob[len(blob)-3] ^= 1
	bad[crypt.MetaDEK] = base64.StdEncoding.EncodeToString(blob)
	putRaw(t, e, "partners/acme/g", stored, bad)
	if _, err := readAll(acme, "/g"); err == nil {
		t.Error("an object with an altered KMS blob opened")
	}

	var out bytes.Buffer
	if err := decryptObject(e, srv.Bucket, "partners/acme/f", &out); err != nil || !bytes.Equal(out.Bytes(), plain) {
		t.Errorf("decrypt = %v; want the plaintext", err)
	}
}
