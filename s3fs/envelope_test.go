package s3fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/store"
)

func testKeyring(t *testing.T) *objfmt.Keyring {
	t.Helper()
	key := make([]byte, objfmt.KeySize)
	rand.Read(key)
	k, err := objfmt.NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	return objfmt.NewKeyring(k)
}

// newEnvelopeEnv is an FS that envelope-encrypts everything it writes.
func newEnvelopeEnv(t *testing.T) (*env, *objfmt.Keyring) {
	t.Helper()
	return newEnvelopeEnvChecksums(t, ChecksumsCompat)
}

func newEnvelopeEnvChecksums(t *testing.T, checksums string) (*env, *objfmt.Keyring) {
	t.Helper()
	srv := s3test.Start(t)
	cfg := testConfig(srv, checksums)
	cfg.Keys, cfg.Envelope = testKeyring(t), true
	return envOn(t, srv, cfg), cfg.Keys
}

// rawObject is what the store holds: the stored bytes and the metadata.
func rawObject(t *testing.T, e *env, key string) ([]byte, map[string]string) {
	t.Helper()
	out, err := e.api.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.s3.Bucket, Key: &key})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out.Metadata
}

func putRaw(t *testing.T, e *env, key string, body []byte, meta map[string]string) {
	t.Helper()
	_, err := e.api.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.s3.Bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), Metadata: meta,
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// decryptRaw decrypts a stored object of bucket and key with the keyring
// alone, as `s3sftpd decrypt` does.
func decryptRaw(t *testing.T, keys *objfmt.Keyring, bucket, key string, stored []byte, meta map[string]string) ([]byte, error) {
	t.Helper()
	b, err := objfmt.BindingOf(meta, bucket, key)
	if err != nil {
		return nil, err
	}
	dk, err := keys.DataKey(meta, b)
	if err != nil {
		return nil, err
	}
	obj, err := objfmt.NewObject(dk, meta)
	if err != nil {
		return nil, err
	}
	r, err := objfmt.NewReader(obj, bytes.NewReader(stored), int64(len(stored)))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// TestEnvelope_RoundTrip: small, chunk-edged and multipart files (one
// ending exactly at a part boundary) come back whole, show their
// plaintext size in stat and listings, are stored as ciphertext with the
// wrapped key in metadata, and decrypt with the keyring alone.
func TestEnvelope_RoundTrip(t *testing.T) {
	e, keys := newEnvelopeEnv(t)
	c := e.session(t, "u/", auth.AllPerms)
	sizes := map[string]int{
		"empty": 0, "one": 1, "chunk": objfmt.ChunkSize, "chunk-plus": objfmt.ChunkSize + 1,
		"parts": 3 * minPartSize, "parts-plus": 2*minPartSize + 12345,
	}
	files := map[string][]byte{}
	for name, n := range sizes {
		files[name] = randBytes(n)
		if err := writeFile(t, c, "/"+name, files[name]); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
	}
	entries, err := c.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range entries {
		if want := int64(len(files[fi.Name()])); fi.Size() != want {
			t.Errorf("listed %s with size %d; want %d", fi.Name(), fi.Size(), want)
		}
	}
	for name, plain := range files {
		if fi, err := c.Stat("/" + name); err != nil || fi.Size() != int64(len(plain)) {
			t.Errorf("stat %s = %v, %v; want size %d", name, fi, err, len(plain))
		}
		if got := readFile(t, c, "/"+name); !bytes.Equal(got, plain) {
			t.Errorf("download of %s: %d bytes differ from the %d uploaded", name, len(got), len(plain))
		}
		stored, meta := rawObject(t, e, "u/"+name)
		if int64(len(stored)) != objfmt.CipherSize(int64(len(plain))) || !objfmt.Encrypted(meta) {
			t.Errorf("%s stored as %d bytes, metadata %v; want %d bytes of ciphertext", name, len(stored), meta, objfmt.CipherSize(int64(len(plain))))
		}
		if len(plain) > 64 && bytes.Contains(stored, plain[:64]) {
			t.Errorf("%s: plaintext found in the stored object", name)
		}
		if got, err := decryptRaw(t, keys, e.s3.Bucket, "u/"+name, stored, meta); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("decrypt stored %s with the keyring: %v", name, err)
		}
	}
	// A rename is a copy that keeps the wrapped key.
	if err := c.Rename("/parts-plus", "/renamed"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, c, "/renamed"); !bytes.Equal(got, files["parts-plus"]) {
		t.Error("renamed file does not decrypt to what was uploaded")
	}
}

// TestEnvelope_RandomReads: reads at random offsets and lengths (seeks) each
// return the right plaintext, with one ranged GET of just their chunks.
func TestEnvelope_RandomReads(t *testing.T) {
	e, _ := newEnvelopeEnv(t)
	c := e.session(t, "u/", auth.AllPerms)
	plain := randBytes(3*minPartSize + 777)
	if err := writeFile(t, c, "/f", plain); err != nil {
		t.Fatal(err)
	}
	f, err := c.Open("/f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 200 {
		off := mrand.Int64N(int64(len(plain)) + 10)
		buf := make([]byte, 1+mrand.IntN(100<<10))
		if i%3 == 0 {
			off = int64(len(plain)) - int64(mrand.IntN(3*objfmt.ChunkSize)) // near the end, the final chunk
		}
		n, err := f.ReadAt(buf, off)
		want := plain[min(off, int64(len(plain))):min(off+int64(len(buf)), int64(len(plain)))]
		if err != nil && err != io.EOF || !bytes.Equal(buf[:n], want) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d matching bytes", len(buf), off, n, err, len(want))
		}
	}
}

// breakingS3 cuts the first GET body after a few MiB, so the stream must
// resume with a ranged GET pinned to the ETag.
type breakingS3 struct {
	store.Objects
	broken atomic.Bool
}

type cutBody struct {
	io.ReadCloser
	left int
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("connection reset by test")
	}
	n, err := b.ReadCloser.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

func (s *breakingS3) Get(ctx context.Context, r store.GetRequest) (store.Reading, error) {
	out, err := s.Objects.Get(ctx, r)
	if err == nil && s.broken.CompareAndSwap(false, true) {
		out.Body = &cutBody{out.Body, 3<<20 + 999}
	}
	return out, err
}

func TestEnvelope_ResumesBrokenBody(t *testing.T) {
	e, _ := newEnvelopeEnv(t)
	c := e.session(t, "u/", auth.AllPerms)
	plain := randBytes(9<<20 + 5)
	if err := writeFile(t, c, "/f", plain); err != nil {
		t.Fatal(err)
	}
	b := &breakingS3{Objects: e.obj}
	e.through(b)
	if got := readFile(t, c, "/f"); !bytes.Equal(got, plain) {
		t.Fatalf("download across a broken body: %d bytes differ from the %d uploaded", len(got), len(plain))
	}
	if !b.broken.Load() {
		t.Fatal("no body was cut")
	}
}

// TestEnvelope_Tamper: every change to the stored ciphertext or its metadata
// makes the download fail with a clear error, and no byte the client got
// differs from the plaintext.
func TestEnvelope_Tamper(t *testing.T) {
	e, _ := newEnvelopeEnv(t)
	c := e.session(t, "u/", auth.AllPerms)
	a, b := randBytes(5*objfmt.ChunkSize+100), randBytes(5*objfmt.ChunkSize+100)
	if err := writeFile(t, c, "/t", a); err != nil { // tampered in place: a data key is bound to its name
		t.Fatal(err)
	}
	if err := writeFile(t, c, "/b", b); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(t, c, "/empty", nil); err != nil {
		t.Fatal(err)
	}
	storedA, metaA := rawObject(t, e, "u/t")
	storedB, metaB := rawObject(t, e, "u/b")
	const cc = objfmt.CipherChunkSize
	cases := []struct {
		name string
		body []byte
		meta map[string]string
	}{
		{"flip-byte", func() []byte { s := bytes.Clone(storedA); s[2*cc+10] ^= 1; return s }(), metaA},
		{"drop-chunk", append(bytes.Clone(storedA[:cc]), storedA[2*cc:]...), metaA},
		{"truncate", storedA[:len(storedA)-40], metaA},
		{"truncate-chunks", storedA[:3*cc+50], metaA},
		{"truncate-to-empty", storedA[:objfmt.Overhead], metaA},
		{"swap-chunks", append(append(append(bytes.Clone(storedA[:cc]), storedA[2*cc:3*cc]...), storedA[cc:2*cc]...), storedA[3*cc:]...), metaA},
		{"other-body", storedB, metaA},
		{"other-metadata", storedA, metaB},
		{"no-metadata", storedA, nil},
		{"plaintext", a, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			putRaw(t, e, "u/t", tc.body, tc.meta)
			got, err := readAll(c, "/t")
			if err == nil {
				t.Fatalf("download of tampered object succeeded with %d bytes", len(got))
			}
			if !bytes.HasPrefix(a, got) {
				t.Errorf("the client got %d bytes that are not the plaintext", len(got))
			}
			if msg := err.Error(); !strings.Contains(msg, "integrity check") && !strings.Contains(msg, "not encrypted") {
				t.Errorf("error = %q; want one saying the integrity check failed", msg)
			}
		})
	}
	// Random-offset reads of a tampered chunk fail too.
	flipped := bytes.Clone(storedA)
	flipped[4*cc+3] ^= 0x40
	putRaw(t, e, "u/t", flipped, metaA)
	f, err := c.Open("/t")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 10)
	if n, err := f.ReadAt(buf, 4*objfmt.ChunkSize+5); err == nil {
		t.Errorf("ReadAt in a tampered chunk = %d bytes, no error", n)
	}
}

// TestEnvelope_AuditHashesPlaintext: the audit trail's SHA-256 and byte
// counts are of what the partner sent and received, not of the ciphertext.
func TestEnvelope_AuditHashesPlaintext(t *testing.T) {
	e, _ := newEnvelopeEnv(t)
	tr, as := newTrail(t)
	c := e.auditedSession(t, "u/", auth.AllPerms, as)
	small, big := randBytes(1000), randBytes(2*minPartSize+7)
	for name, data := range map[string][]byte{"/small": small, "/big": big} {
		if err := writeFile(t, c, name, data); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, c, name); !bytes.Equal(got, data) {
			t.Fatalf("download of %s differs", name)
		}
	}
	closes := 0
	for _, r := range tr.records(t) {
		if r.Event != "close" {
			continue
		}
		closes++
		want := map[string][]byte{"/small": small, "/big": big}[r.Path]
		if r.SHA256 != sum256(want) || r.Bytes == nil || *r.Bytes != int64(len(want)) {
			t.Errorf("%s close (%s): sha256 %s, bytes %v; want those of the %d-byte plaintext", r.Path, r.Mode, r.SHA256, r.Bytes, len(want))
		}
	}
	if closes != 4 {
		t.Errorf("%d close records; want 4", closes)
	}
}

// TestEnvelope_MultipartCopyKeepsKey: the multipart copy that renames
// objects over 5 GiB carries the data key over, wrapped for the new name
// (UploadPartCopy keeps no metadata by itself), so the copy still decrypts.
func TestEnvelope_MultipartCopyKeepsKey(t *testing.T) {
	if os.Getenv("S3SFTPD_TEST_STORE") == "embedded" {
		t.Skip("the embedded store has no UploadPartCopy (it holds no object over 5 GiB to copy this way); versitygw runs this test")
	}
	e, _ := newEnvelopeEnv(t)
	c := e.session(t, "u/", auth.AllPerms)
	plain := randBytes(minPartSize + 3)
	if err := writeFile(t, c, "/src", plain); err != nil {
		t.Fatal(err)
	}
	tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: "u/", Perms: auth.AllPerms}
	h := e.fs.Handlers(context.Background(), tenant, testLog(), nil).FileGet.(boundary.Edge).H.(*handlers)
	head, err := e.api.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.s3.Bucket, Key: aws.String("u/src")})
	if err != nil {
		t.Fatal(err)
	}
	home := h.tree.Home()
	meta, err := h.renamedMetadata(home, home, "u/src", "u/dst", head.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	h.fs.copyLimit = minPartSize // a copy part by part
	if err := h.copyObject(home, home, "u/src", "u/dst", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), "", meta); err != nil {
		t.Fatalf("multipart copy: %v", err)
	}
	if got := readFile(t, c, "/dst"); !bytes.Equal(got, plain) {
		t.Error("the multipart copy does not decrypt to the original")
	}
}

// TestEnvelope_ChecksumsAWS: in "aws" checksum mode S3 checks each part's
// and the whole object's CRC32C, which must be of the stored ciphertext
// (while the audit SHA-256 stays of the plaintext); no plaintext SHA-256 is
// stored next to the ciphertext.
func TestEnvelope_ChecksumsAWS(t *testing.T) {
	e, _ := newEnvelopeEnvChecksums(t, ChecksumsAWS)
	c := e.session(t, "u/", auth.AllPerms)
	for name, data := range map[string][]byte{"/small": randBytes(1000), "/big": randBytes(2*minPartSize + 7), "/edge": randBytes(2 * minPartSize)} {
		if err := writeFile(t, c, name, data); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
		if got := readFile(t, c, name); !bytes.Equal(got, data) {
			t.Errorf("download of %s differs", name)
		}
		if _, meta := rawObject(t, e, "u"+name); meta[objfmt.MetaSHA256] != "" {
			t.Errorf("%s: the plaintext SHA-256 is stored in the clear: %v", name, meta)
		}
	}
}
