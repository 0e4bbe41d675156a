package ops

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/store"
)

// env is one real S3 server, the store dialled for it, and an FS on it.
type env struct {
	s3  *s3test.Server
	st  *store.Store
	api store.S3 // st's client, for looking at the bucket as the gateway
	cfg s3fs.Config
	fs  *s3fs.FS
}

// store is the Store the tools act on.
func (e *env) store() Store { return Store{S3: e.st, FS: e.fs} }

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := s3test.Start(t)
	return envOn(t, srv, testConfig(srv))
}

// testConfig reaches srv with the smallest parts.
func testConfig(srv *s3test.Server) s3fs.Config {
	return s3fs.Config{
		Config: store.Config{
			Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
			SSE: s3fs.SSEAES256, Checksums: s3fs.ChecksumsCompat,
		},
		PartSize: 5 << 20, UploadMemory: 64 << 20,
	}
}

// envOn is an FS reaching srv as cfg says.
func envOn(t *testing.T, srv *s3test.Server, cfg s3fs.Config) *env {
	t.Helper()
	st, err := store.Dial(context.Background(), cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := s3fs.New(st.Objects(), cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	return &env{s3: srv, st: st, api: st.S3(), cfg: cfg, fs: fsys}
}

// testLog discards, unless S3SFTPD_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("S3SFTPD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// session serves the s3fs handlers of a user with home prefix to a pkg/sftp
// client over an in-process pipe, the way sftpd serves them over SSH: how
// the tests write and read files as a partner would.
func (e *env) session(t *testing.T, prefix string, perms auth.Perms) *sftp.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: prefix, Perms: perms}
	serverConn, clientConn := net.Pipe()
	rs := sftp.NewRequestServer(serverConn, e.fs.Handlers(ctx, tenant, testLog(), nil), sftp.WithStartDirectory("/"))
	done := make(chan struct{})
	go func() { rs.Serve(); close(done) }()
	c, err := sftp.NewClientPipe(clientConn, clientConn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		clientConn.Close()
		<-done
		cancel()
	})
	return c
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func writeFile(t *testing.T, c *sftp.Client, path string, data []byte) error {
	t.Helper()
	f, err := c.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readFile(t *testing.T, c *sftp.Client, path string) []byte {
	t.Helper()
	b, err := readAll(c, path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// readAll downloads a file, returning the error instead of failing the test.
func readAll(c *sftp.Client, path string) ([]byte, error) {
	f, err := c.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	_, err = f.WriteTo(&buf)
	return buf.Bytes(), err
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

func testKeyring(t *testing.T) *objfmt.Keyring {
	t.Helper()
	k, err := objfmt.NewKEK(randBytes(objfmt.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return objfmt.NewKeyring(k)
}

// kmsKey starts local-kms and creates a key in it: the client, the key's
// ARN, and how to create another key.
func kmsKey(t *testing.T) (client store.KMSClient, keyARN string, newKey func() string) {
	t.Helper()
	sdk := s3test.KMSClient(s3test.StartKMS(t))
	newKey = func() string { return s3test.NewKMSKey(t, sdk) }
	return store.KMSClientOf(sdk), newKey(), newKey
}

// v1Fixture is the version-1 object written by the version-1 code, kept in
// s3fs's testdata (where the format's own tests read it): its keyring,
// stored bytes, metadata and plaintext.
func v1Fixture(t *testing.T) (*objfmt.Keyring, []byte, map[string]string, []byte) {
	t.Helper()
	const dir = "../s3fs/testdata/v1-kek/"
	b64, err := os.ReadFile(dir + "kek")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	kek, err := objfmt.NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(dir + "stored")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if b, err := os.ReadFile(dir + "meta.json"); err != nil || json.Unmarshal(b, &meta) != nil {
		t.Fatalf("read meta.json: %v", err)
	}
	plain := bytes.Repeat([]byte("version one fixture\n"), (objfmt.ChunkSize+1000)/20+1)[:objfmt.ChunkSize+1000]
	return objfmt.NewKeyring(kek), stored, meta, plain
}

// v1KMSObject writes a version-1 object as the version-1 gateway did with
// KMS: a data key bound to the tenant alone ("s3sftpd-tenant" in its
// encryption context), chunks with no AAD.
func v1KMSObject(t *testing.T, k *s3fs.KMS, tenant string, plain []byte) ([]byte, map[string]string) {
	t.Helper()
	dataKey, blob, arn, err := k.Client.GenerateDataKey(context.Background(), k.KeyID, map[string]string{"s3sftpd-tenant": tenant})
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

// createUpload starts a multipart upload with the real client, as a gateway
// that then died would have.
func createUpload(t *testing.T, e *env, key string) {
	t.Helper()
	if _, err := e.api.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.s3.Bucket, Key: aws.String(key)}); err != nil {
		t.Fatalf("create multipart upload %s: %v", key, err)
	}
}

// uploadsInProgress returns the keys of the bucket's uploads in progress.
func uploadsInProgress(t *testing.T, e *env) []string {
	t.Helper()
	return e.s3.MultipartUploads(t)
}
