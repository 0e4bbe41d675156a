package s3fs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// keySources is an envelope-encrypting FS per source of data keys: a local
// KEK, and KMS (local-kms), on one versitygw.
func keySources(t *testing.T) map[string]*env {
	t.Helper()
	srv := s3test.Start(t)
	kek := testConfig(srv, ChecksumsCompat)
	kek.Envelope, kek.Keys = true, testKeyring(t)
	client, keyARN := kmsKey(t)
	viaKMS := testConfig(srv, ChecksumsCompat)
	viaKMS.Envelope, viaKMS.KMS = true, &KMS{Client: client, KeyID: keyARN}
	return map[string]*env{"kek": envOn(t, srv, kek), "kms": envOn(t, srv, viaKMS)}
}

// TestEnvelope_BoundToName: a bucket writer who copies acme's object (bytes
// and metadata) over evil's file, or swaps two of acme's files, gets
// downloads that fail the integrity check instead of the other file's
// plaintext; `decrypt` refuses the moved object too.
func TestEnvelope_BoundToName(t *testing.T) {
	for name, e := range keySources(t) {
		t.Run(name, func(t *testing.T) {
			home := "partners/" + name + "-acme/"
			evilHome := "partners/" + name + "-evil/"
			acme := e.session(t, home, auth.AllPerms)
			evil := e.session(t, evilHome, auth.AllPerms)
			secret := randBytes(3*objfmt.ChunkSize + 5)
			if err := writeFile(t, acme, "/f.csv", secret); err != nil {
				t.Fatal(err)
			}
			if err := writeFile(t, evil, "/mine.csv", randBytes(500)); err != nil {
				t.Fatal(err)
			}
			stored, meta := rawObject(t, e, home+"f.csv")
			putRaw(t, e, evilHome+"mine.csv", stored, meta)
			got, err := readAll(evil, "/mine.csv")
			if err == nil || !strings.Contains(err.Error(), "integrity check") || bytes.Contains(got, secret[:100]) {
				t.Errorf("evil's download of acme's object = %d bytes, %v; want an integrity failure", len(got), err)
			}
			var out bytes.Buffer
			if err := decryptObject(e, e.s3.Bucket, evilHome+"mine.csv", &out); err == nil || out.Len() > 0 {
				t.Errorf("decrypt of the moved object = %d bytes, %v; want an error", out.Len(), err)
			}
			relabeled := maps.Clone(meta)
			relabeled[objfmt.MetaContext] = e.s3.Bucket + "/" + evilHome
			putRaw(t, e, evilHome+"mine.csv", stored, relabeled)
			if got, err := readAll(evil, "/mine.csv"); err == nil {
				t.Errorf("evil's download of acme's object relabeled for evil = %d bytes; want an error", len(got))
			}
			if err := decryptObject(e, e.s3.Bucket, evilHome+"mine.csv", &out); err == nil || out.Len() > 0 {
				t.Errorf("decrypt of the relabeled object = %d bytes, %v; want an error", out.Len(), err)
			}

			a, b := randBytes(objfmt.ChunkSize+1), randBytes(3000)
			if writeFile(t, acme, "/a.csv", a) != nil || writeFile(t, acme, "/b.csv", b) != nil {
				t.Fatal("upload failed")
			}
			sa, ma := rawObject(t, e, home+"a.csv")
			sb, mb := rawObject(t, e, home+"b.csv")
			putRaw(t, e, home+"a.csv", sb, mb)
			putRaw(t, e, home+"b.csv", sa, ma)
			for p, other := range map[string][]byte{"/a.csv": b, "/b.csv": a} {
				if got, err := readAll(acme, p); err == nil || !strings.Contains(err.Error(), "integrity check") || bytes.Contains(got, other[:100]) {
					t.Errorf("download of swapped %s = %d bytes, %v; want an integrity failure", p, len(got), err)
				}
			}
			if got := readFile(t, acme, "/f.csv"); !bytes.Equal(got, secret) {
				t.Error("acme's own file no longer reads")
			}
			out.Reset()
			if err := decryptObject(e, e.s3.Bucket, home+"f.csv", &out); err != nil || !bytes.Equal(out.Bytes(), secret) {
				t.Errorf("decrypt of acme's file in place = %v; want the plaintext", err)
			}
		})
	}
}

// TestEnvelope_RenameRebinds: a renamed file (alone, in a renamed folder, or
// a small temporary file stored under its temporary name) reads under its
// new name with its body untouched, and the bytes it had before the rename,
// copied to another name, fail: the rename bound the data key to the new name.
func TestEnvelope_RenameRebinds(t *testing.T) {
	for name, e := range keySources(t) {
		t.Run(name, func(t *testing.T) {
			home := "rename-" + name + "/"
			c := e.session(t, home, auth.AllPerms)
			plain := randBytes(2*objfmt.ChunkSize + 10)
			if err := writeFile(t, c, "/a.csv", plain); err != nil {
				t.Fatal(err)
			}
			before, beforeMeta := rawObject(t, e, home+"a.csv")
			if err := c.Rename("/a.csv", "/b.csv"); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, c, "/b.csv"); !bytes.Equal(got, plain) {
				t.Fatal("renamed file does not read under its new name")
			}
			after, afterMeta := rawObject(t, e, home+"b.csv")
			if !bytes.Equal(after, before) || afterMeta[objfmt.MetaObjectID] != beforeMeta[objfmt.MetaObjectID] || afterMeta[objfmt.MetaDEK] == beforeMeta[objfmt.MetaDEK] {
				t.Errorf("rename changed the body or kept the wrapped key: metadata %v, then %v", beforeMeta, afterMeta)
			}
			putRaw(t, e, home+"c.csv", before, beforeMeta)
			if got, err := readAll(c, "/c.csv"); err == nil || !strings.Contains(err.Error(), "integrity check") {
				t.Errorf("the pre-rename bytes under a third name = %d bytes, %v; want an integrity failure", len(got), err)
			}

			if err := c.Mkdir("/d"); err != nil {
				t.Fatal(err)
			}
			if err := writeFile(t, c, "/d/x.csv", plain[:5000]); err != nil {
				t.Fatal(err)
			}
			if err := c.Rename("/d", "/e"); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, c, "/e/x.csv"); !bytes.Equal(got, plain[:5000]) {
				t.Error("a file of a renamed folder does not read under its new name")
			}

			if err := writeFile(t, c, "/t.csv.filepart", plain[:7000]); err != nil {
				t.Fatal(err)
			}
			if err := c.Rename("/t.csv.filepart", "/t.csv"); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, c, "/t.csv"); !bytes.Equal(got, plain[:7000]) {
				t.Error("a small temporary file does not read once renamed")
			}
		})
	}
}

// v1Fixture is the version-1 object in testdata/v1-kek, written by the
// version-1 code: its keyring, stored bytes, metadata and plaintext.
func v1Fixture(t *testing.T) (*objfmt.Keyring, []byte, map[string]string, []byte) {
	t.Helper()
	b64, err := os.ReadFile("testdata/v1-kek/kek")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	kek, err := objfmt.NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile("testdata/v1-kek/stored")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if b, err := os.ReadFile("testdata/v1-kek/meta.json"); err != nil || json.Unmarshal(b, &meta) != nil {
		t.Fatalf("read meta.json: %v", err)
	}
	plain := bytes.Repeat([]byte("version one fixture\n"), (objfmt.ChunkSize+1000)/20+1)[:objfmt.ChunkSize+1000]
	return objfmt.NewKeyring(kek), stored, meta, plain
}

// v1KMSObject writes a version-1 object as the version-1 gateway did with
// KMS: a data key bound to the tenant alone, chunks with no AAD.
func v1KMSObject(t *testing.T, k *KMS, tenant string, plain []byte) ([]byte, map[string]string) {
	t.Helper()
	dataKey, blob, arn, err := k.Client.GenerateDataKey(context.Background(), k.KeyID, map[string]string{objfmt.ContextTenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{objfmt.MetaVersion: "1", objfmt.MetaKEK: objfmt.KMSPrefix + arn,
		objfmt.MetaDEK: base64.StdEncoding.EncodeToString(blob), objfmt.MetaContext: tenant}
	obj, err := objfmt.NewObject(dataKey, meta)
	if err != nil {
		t.Fatal(err)
	}
	return obj.SealInPlace(bytes.Clone(plain), 0, true), meta
}

// TestEnvelope_Version1: version-1 objects (KEK: written by the version-1
// code; KMS: as it wrote them) still download and rename (a rename makes
// them version 2). Their upgrade in place: ops.TestRewrap_UpgradesVersion1.
func TestEnvelope_Version1(t *testing.T) {
	srv := s3test.Start(t)
	keys, kekStored, kekMeta, plain := v1Fixture(t)
	kekCfg := testConfig(srv, ChecksumsCompat)
	kekCfg.Envelope, kekCfg.Keys = true, keys
	client, keyARN := kmsKey(t)
	kmsCfg := testConfig(srv, ChecksumsCompat)
	kmsCfg.Envelope, kmsCfg.KMS = true, &KMS{Client: client, KeyID: keyARN}
	for name, cfg := range map[string]Config{"kek": kekCfg, "kms": kmsCfg} {
		t.Run(name, func(t *testing.T) {
			e := envOn(t, srv, cfg)
			home := "v1-" + name + "/"
			stored, meta := kekStored, kekMeta
			if cfg.KMS != nil {
				stored, meta = v1KMSObject(t, cfg.KMS, srv.Bucket+"/"+home, plain)
			}
			putRaw(t, e, home+"old.csv", stored, meta)
			putRaw(t, e, home+"moved.csv", stored, meta)
			c := e.session(t, home, auth.AllPerms)
			if got := readFile(t, c, "/old.csv"); !bytes.Equal(got, plain) {
				t.Fatal("a version-1 object does not download")
			}
			if err := c.Rename("/moved.csv", "/renamed.csv"); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, c, "/renamed.csv"); !bytes.Equal(got, plain) {
				t.Error("a renamed version-1 object does not download")
			}
			if _, m := rawObject(t, e, home+"renamed.csv"); m[objfmt.MetaVersion] != "2" {
				t.Errorf("a renamed version-1 object has metadata %v; want version 2", m)
			}
		})
	}
}

// TestEnvelope_RefuseFormat1: with RefuseFormat1 (format_v1 = "refuse") a
// version-1 object, which a bucket writer may have copied from anywhere,
// fails to download and to rename with a message saying what to do (rewrap
// still upgrades it, and then it reads: ops.TestRewrap_UpgradesRefusedFormat1).
func TestEnvelope_RefuseFormat1(t *testing.T) {
	srv := s3test.Start(t)
	keys, stored, meta, _ := v1Fixture(t)
	cfg := testConfig(srv, ChecksumsCompat)
	cfg.Envelope, cfg.Keys, cfg.RefuseFormat1 = true, keys, true
	e := envOn(t, srv, cfg)
	putRaw(t, e, "refuse/old.csv", stored, meta)
	c := e.session(t, "refuse/", auth.AllPerms)
	if got, err := readAll(c, "/old.csv"); err == nil || !strings.Contains(err.Error(), "old encryption format") {
		t.Errorf("download of a version-1 object = %d bytes, %v; want a refusal naming the old format", len(got), err)
	}
	if err := c.Rename("/old.csv", "/new.csv"); err == nil || !strings.Contains(err.Error(), "old encryption format") {
		t.Errorf("rename of a version-1 object = %v; want a refusal naming the old format", err)
	}
	if _, m := rawObject(t, e, "refuse/old.csv"); m[objfmt.MetaVersion] != "1" {
		t.Errorf("the refused rename changed the object: %v", m)
	}
}

// decryptObject is `s3sftpd decrypt` of one object (ops.Store.Decrypt):
// its data key bound to the place its metadata records, unwrapped by the
// FS's keys, its chunks authenticated as they are copied to w.
func decryptObject(e *env, bucket, key string, w io.Writer) error {
	ctx := context.Background()
	out, err := e.obj.Get(ctx, store.GetRequest{Bucket: bucket, Key: key})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	b, err := objfmt.RecordedBinding(out.Metadata, bucket, key)
	if err != nil {
		return err
	}
	dataKey, err := e.fs.Sealing().DataKey(ctx, out.Metadata, b)
	if err != nil {
		return err
	}
	obj, err := objfmt.NewObject(dataKey, out.Metadata)
	if err != nil {
		return err
	}
	r, err := objfmt.NewReader(obj, out.Body, out.Size)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	return err
}
