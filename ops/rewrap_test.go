package ops

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs"
)

// TestRewrap_KEKToKMS: objects written under a KEK stay readable once the
// config takes data keys from KMS (the KEK kept only for reading); rewrapped, they open
// with KMS alone and hold the same bytes; each is bound to the home it
// lives in, so a copy in another home is refused; an object in no home is
// left as it was, with an error; a second KMS key takes them all over.
func TestRewrap_KEKToKMS(t *testing.T) {
	srv := s3test.Start(t)
	client, keyARN, newKey := kmsKey(t)
	ctx := context.Background()
	kek := testKeyring(t).Current
	homes := []string{"partners/acme/", "partners/other/"}

	cfg := testConfig(srv)
	cfg.Envelope, cfg.Keys = true, objfmt.NewKeyring(kek)
	e := envOn(t, srv, cfg)
	files := map[string][]byte{"/f": randBytes(3*objfmt.ChunkSize + 7), "/empty": nil}
	for name, data := range files {
		if err := writeFile(t, e.session(t, homes[0], auth.AllPerms), name, data); err != nil {
			t.Fatal(err)
		}
	}
	other := randBytes(1000)
	if err := writeFile(t, e.session(t, homes[1], auth.AllPerms), "/g", other); err != nil {
		t.Fatal(err)
	}
	loose, looseMeta := rawObject(t, e, "partners/acme/f")
	putRaw(t, e, "loose/f", loose, looseMeta)

	// kms_key_id set, the KEK kept in old_kek_files: new writes use KMS.
	cfg.KMS, cfg.Keys = &s3fs.KMS{Client: client, KeyID: keyARN}, objfmt.NewKeyring(nil, kek)
	e = envOn(t, srv, cfg)
	if err := writeFile(t, e.session(t, homes[0], auth.AllPerms), "/new", other); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, e.session(t, homes[0], auth.AllPerms), "/f"); !bytes.Equal(got, files["/f"]) {
		t.Error("/f under the KEK kept for reading differs before rewrap")
	}
	res, err := e.store().Rewrap(ctx, srv.Bucket, "", homes)
	if res.Rewrapped != 3 || res.Current != 1 || err == nil || !strings.Contains(err.Error(), "loose/f: in no user's home") {
		t.Fatalf("rewrap = %+v, %v; want 3 rewrapped, 1 current, and loose/f refused", res, err)
	}
	if _, meta := rawObject(t, e, "loose/f"); meta[objfmt.MetaKEK] != kek.ID {
		t.Errorf("loose/f changed to %v", meta)
	}
	res, err = e.store().Rewrap(ctx, srv.Bucket, "partners/", homes)
	if res.Rewrapped != 0 || res.Current != 4 || err != nil {
		t.Errorf("second rewrap = %+v, %v; want all 4 current", res, err)
	}

	// KMS alone: the KEK is gone from the config.
	cfg.Keys = nil
	e = envOn(t, srv, cfg)
	acme, tenantOther := e.session(t, homes[0], auth.AllPerms), e.session(t, homes[1], auth.AllPerms)
	for name, data := range files {
		if got := readFile(t, acme, name); !bytes.Equal(got, data) {
			t.Errorf("%s after rewrap: %d bytes differ from the %d written", name, len(got), len(data))
		}
	}
	if got := readFile(t, tenantOther, "/g"); !bytes.Equal(got, other) {
		t.Error("/g of the other home differs after rewrap")
	}
	stored, meta := rawObject(t, e, "partners/acme/f")
	if meta[objfmt.MetaKEK] != "kms:"+keyARN || meta[objfmt.MetaContext] != srv.Bucket+"/partners/acme/" {
		t.Errorf("metadata after rewrap %v; want the KMS key bound to acme's home", meta)
	}
	putRaw(t, e, "partners/other/stolen", stored, meta)
	if _, err := readAll(tenantOther, "/stolen"); err == nil || !strings.Contains(err.Error(), "integrity check") {
		t.Errorf("acme's migrated object opened in another home: %v; want an integrity failure", err)
	}
	var out bytes.Buffer
	if err := e.store().Decrypt(ctx, srv.Bucket, "partners/acme/f", &out); err != nil || !bytes.Equal(out.Bytes(), files["/f"]) {
		t.Errorf("DecryptObject after rewrap = %v; want the plaintext", err)
	}

	// Another KMS key: every object is moved to it (Decrypt, then Encrypt).
	cfg.KMS = &s3fs.KMS{Client: client, KeyID: newKey()}
	e = envOn(t, srv, cfg)
	res, err = e.store().Rewrap(ctx, srv.Bucket, "partners/", homes)
	if err == nil || !strings.Contains(err.Error(), "partners/other/stolen") || res.Rewrapped != 4 {
		t.Errorf("rewrap to a second KMS key = %+v, %v; want 4 rewrapped and the object moved between homes refused", res, err)
	}
	if _, meta := rawObject(t, e, "partners/other/g"); meta[objfmt.MetaKEK] != "kms:"+cfg.KMS.KeyID {
		t.Errorf("metadata after rewrap to the second key %v", meta)
	}
	if got := readFile(t, e.session(t, homes[0], auth.AllPerms), "/f"); !bytes.Equal(got, files["/f"]) {
		t.Error("/f differs after rewrap to the second key")
	}
}

// TestRewrap_OlderVersions: in a versioned bucket, rewrap moves current
// versions only, and counts the noncurrent ones still under the old KEK:
// the overwritten version, and any its own copies left behind.
func TestRewrap_OlderVersions(t *testing.T) {
	srv := s3test.StartVersioned(t)
	old, cur := testKeyring(t).Current, testKeyring(t).Current
	cfg := testConfig(srv)
	cfg.Envelope, cfg.Keys = true, objfmt.NewKeyring(old)
	e := envOn(t, srv, cfg)
	c := e.session(t, "partners/acme/", auth.AllPerms)
	for _, f := range []string{"/f", "/f", "/g"} {
		if err := writeFile(t, c, f, randBytes(100)); err != nil {
			t.Fatal(err)
		}
	}

	cfg.Keys = objfmt.NewKeyring(cur, old)
	e = envOn(t, srv, cfg)
	res, err := e.store().Rewrap(context.Background(), srv.Bucket, "partners/", []string{"partners/acme/"})
	// Every version was under the old KEK, and rewrap moved the current
	// ones: the noncurrent ones are the overwritten /f, and on AWS S3 also
	// the versions rewrap's copies replaced (versitygw changes metadata in place).
	older := noncurrentVersions(t, e)
	if err != nil || res.Rewrapped != 2 || len(res.Older) != 1 || res.Older[old.ID] != older || older < 1 {
		t.Fatalf("rewrap = %+v, %v; want 2 rewrapped and %d older versions under %s", res, err, older, old.ID)
	}
	res, err = e.store().Rewrap(context.Background(), srv.Bucket, "partners/", []string{"partners/acme/"})
	if err != nil || res.Rewrapped != 0 || res.Current != 2 || res.Older[old.ID] != older || res.OlderV1 != 0 {
		t.Errorf("second rewrap = %+v, %v; want the same %d older versions and nothing moved", res, err, older)
	}
}

// TestRewrap_OlderVersion1: a noncurrent version in format version 1 (bound
// to no name) is counted, so the operator knows to let it expire.
func TestRewrap_OlderVersion1(t *testing.T) {
	srv := s3test.StartVersioned(t)
	keys, stored, meta, _ := v1Fixture(t)
	cfg := testConfig(srv)
	cfg.Envelope, cfg.Keys = true, keys
	e := envOn(t, srv, cfg)
	putRaw(t, e, "partners/acme/f", stored, meta)
	if err := writeFile(t, e.session(t, "partners/acme/", auth.AllPerms), "/f", randBytes(100)); err != nil {
		t.Fatal(err)
	}
	res, err := e.store().Rewrap(context.Background(), srv.Bucket, "partners/", []string{"partners/acme/"})
	if err != nil || res.Current != 1 || res.OlderV1 != 1 {
		t.Errorf("rewrap = %+v, %v; want the overwritten version-1 version counted", res, err)
	}
}

// noncurrentVersions counts the versions in the bucket that are not current.
func noncurrentVersions(t *testing.T, e *env) int {
	t.Helper()
	out, err := e.api.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: &e.s3.Bucket})
	if err != nil || aws.ToBool(out.IsTruncated) {
		t.Fatalf("list versions: %v", err)
	}
	n := 0
	for _, v := range out.Versions {
		if !aws.ToBool(v.IsLatest) {
			n++
		}
	}
	return n
}

// TestRewrap_UpgradesVersion1: rewrap upgrades version-1 objects (KEK:
// written by the version-1 code; KMS: as it wrote them) to version 2 in
// place, bound to their names, so that a copy under another name then
// fails; an object a rename already upgraded is current; a second rewrap
// has nothing to do.
func TestRewrap_UpgradesVersion1(t *testing.T) {
	srv := s3test.Start(t)
	keys, kekStored, kekMeta, plain := v1Fixture(t)
	kekCfg := testConfig(srv)
	kekCfg.Envelope, kekCfg.Keys = true, keys
	client, keyARN, _ := kmsKey(t)
	kmsCfg := testConfig(srv)
	kmsCfg.Envelope, kmsCfg.KMS = true, &s3fs.KMS{Client: client, KeyID: keyARN}
	for name, cfg := range map[string]s3fs.Config{"kek": kekCfg, "kms": kmsCfg} {
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
			if err := c.Rename("/moved.csv", "/renamed.csv"); err != nil { // a rename upgrades it
				t.Fatal(err)
			}

			res, err := e.store().Rewrap(context.Background(), srv.Bucket, home, []string{home})
			if err != nil || res.Rewrapped != 1 || res.Upgraded != 1 || res.Current != 1 {
				t.Fatalf("rewrap = %+v, %v; want old.csv upgraded, renamed.csv current", res, err)
			}
			upStored, upMeta := rawObject(t, e, home+"old.csv")
			if upMeta[objfmt.MetaVersion] != "2" || upMeta[objfmt.MetaContext] != srv.Bucket+"/"+home || !bytes.Equal(upStored, stored) {
				t.Errorf("upgraded metadata %v (body kept: %v); want version 2 bound to %s", upMeta, bytes.Equal(upStored, stored), home)
			}
			if got := readFile(t, c, "/old.csv"); !bytes.Equal(got, plain) {
				t.Error("the upgraded object does not download")
			}
			var out bytes.Buffer
			if err := e.store().Decrypt(context.Background(), srv.Bucket, home+"old.csv", &out); err != nil || !bytes.Equal(out.Bytes(), plain) {
				t.Errorf("decrypt of the upgraded object = %v; want the plaintext", err)
			}
			putRaw(t, e, home+"copy.csv", upStored, upMeta)
			if got, err := readAll(c, "/copy.csv"); err == nil || !strings.Contains(err.Error(), "integrity check") {
				t.Errorf("the upgraded object under another name = %d bytes, %v; want an integrity failure", len(got), err)
			}
			e.api.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &srv.Bucket, Key: aws.String(home + "copy.csv")})
			if res, err := e.store().Rewrap(context.Background(), srv.Bucket, home, []string{home}); err != nil || res.Rewrapped != 0 || res.Current != 2 {
				t.Errorf("second rewrap = %+v, %v; want nothing to do", res, err)
			}
		})
	}
}

// TestRewrap_UpgradesRefusedFormat1: with RefuseFormat1 (format_v1 =
// "refuse"), whose sessions refuse a version-1 object, rewrap still
// upgrades it, and then it reads.
func TestRewrap_UpgradesRefusedFormat1(t *testing.T) {
	srv := s3test.Start(t)
	keys, stored, meta, plain := v1Fixture(t)
	cfg := testConfig(srv)
	cfg.Envelope, cfg.Keys, cfg.RefuseFormat1 = true, keys, true
	e := envOn(t, srv, cfg)
	putRaw(t, e, "refuse/old.csv", stored, meta)
	c := e.session(t, "refuse/", auth.AllPerms)
	if _, err := readAll(c, "/old.csv"); err == nil {
		t.Fatal("download of a version-1 object succeeded; want it refused before rewrap")
	}
	if res, err := e.store().Rewrap(context.Background(), srv.Bucket, "refuse/", []string{"refuse/"}); err != nil || res.Upgraded != 1 {
		t.Fatalf("rewrap = %+v, %v; want the object upgraded", res, err)
	}
	if got := readFile(t, c, "/old.csv"); !bytes.Equal(got, plain) {
		t.Error("the upgraded object does not download")
	}
}

// TestRewrap_LargeKeepsTime: rewrap moves an object over 5 GiB by a
// multipart copy onto itself, which keeps no tags by itself; the time a
// partner set on the file (kept in a tag) must survive it, as it survives
// the one-CopyObject move of a smaller object. The 5 GiB limit is lowered,
// so a 6 MiB object takes the multipart path.
func TestRewrap_LargeKeepsTime(t *testing.T) {
	if os.Getenv("S3SFTPD_TEST_STORE") == "embedded" {
		t.Skip("the embedded store keeps no tags and has no UploadPartCopy; versitygw runs this test")
	}
	srv := s3test.Start(t)
	old, current := testKeyring(t).Current, testKeyring(t).Current
	cfg := testConfig(srv)
	cfg.Envelope, cfg.Keys = true, objfmt.NewKeyring(old)
	e := envOn(t, srv, cfg)
	plain := randBytes(6 << 20)
	if err := writeFile(t, e.session(t, "u/", auth.AllPerms), "/big.bin", plain); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
	if err := e.session(t, "u/", auth.AllPerms).Chtimes("/big.bin", mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if _, meta := rawObject(t, e, "u/big.bin"); !objfmt.MtimeTagged(meta) {
		t.Fatalf("setstat kept the time in metadata %v; this test needs it in a tag", meta)
	}

	cfg.Keys = objfmt.NewKeyring(current, old)
	e = envOn(t, srv, cfg)
	st := e.store()
	st.selfCopyLimit = 5 << 20
	res, err := st.Rewrap(context.Background(), srv.Bucket, "u/", []string{"u/"})
	if err != nil || res.Rewrapped != 1 {
		t.Fatalf("rewrap = %+v, %v; want the one object rewrapped", res, err)
	}
	if _, meta := rawObject(t, e, "u/big.bin"); meta[objfmt.MetaKEK] != current.ID {
		t.Fatalf("after rewrap the data key is wrapped by %q; want %q", meta[objfmt.MetaKEK], current.ID)
	}
	c := e.session(t, "u/", auth.AllPerms)
	fi, err := c.Stat("/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("stat after rewrap: mtime %v; want %v, the time set before", fi.ModTime().UTC(), mtime)
	}
	if got := readFile(t, c, "/big.bin"); !bytes.Equal(got, plain) {
		t.Errorf("after rewrap the file reads %d bytes differing from the %d uploaded", len(got), len(plain))
	}
}
