package s3fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/store"
)

// landingS3 delivers the first UploadPart of part number part to the store
// but answers it only with an error, once release is closed (the client has
// disconnected): a request whose answer was lost. It keeps every part body
// sent.
type landingS3 struct {
	store.Objects
	part    int32
	release chan struct{}
	mu      sync.Mutex
	landed  bool
	bodies  map[int32][][]byte
}

func (l *landingS3) UploadPart(ctx context.Context, r store.PartRequest) (store.Part, error) {
	l.mu.Lock()
	l.bodies[r.Number] = append(l.bodies[r.Number], bytes.Clone(r.Body))
	lose := r.Number == l.part && !l.landed
	l.landed = l.landed || lose
	l.mu.Unlock()
	out, err := l.Objects.UploadPart(ctx, r)
	if !lose || err != nil {
		return out, err
	}
	select {
	case <-l.release:
	case <-ctx.Done():
	}
	return store.Part{}, errors.New("connection reset while reading the answer")
}

// TestPending_ResumeNeverReusesNonce: part 2 of a temporary file was in
// flight when the client disconnected, and reached the store although the
// gateway saw it fail; the resume sends the same bytes of part 2 again.
// Under envelope encryption they are sealed under other nonces (the same
// key, nonce and bytes would give the same ciphertext), both decrypt to the
// same plaintext, and the committed file is whole; with a KEK and with KMS.
func TestPending_ResumeNeverReusesNonce(t *testing.T) {
	srv := s3test.Start(t)
	kek := testConfig(srv, ChecksumsCompat)
	kek.Keys, kek.Envelope = testKeyring(t), true
	client, keyARN := kmsKey(t)
	viaKMS := testConfig(srv, ChecksumsCompat)
	viaKMS.Envelope, viaKMS.KMS = true, &KMS{Client: client, KeyID: keyARN}
	for name, cfg := range map[string]Config{"kek": kek, "kms": viaKMS} {
		t.Run(name, func(t *testing.T) { resumeNeverReusesNonce(t, srv, cfg, "nonce-"+name+"/") })
	}
}

func resumeNeverReusesNonce(t *testing.T, srv *s3test.Server, cfg Config, home string) {
	client, err := dialStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &landingS3{Objects: objectsOver(client, cfg), part: 2, release: make(chan struct{}), bodies: map[int32][][]byte{}}
	fsys, err := New(l, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s3: srv, fs: fsys, api: client, obj: fsys.obj.(keptime.Indexing).Objects, cfg: cfg}

	tenant := &auth.Tenant{User: "tester", Bucket: srv.Bucket, Prefix: home, Perms: auth.AllPerms}
	data := randBytes(13 << 20)
	clientConn, done := e.interruptedUpload(t, tenant, data)
	clientConn.Close()
	close(l.release)
	<-done

	c := e.session(t, home, auth.AllPerms)
	fi, err := c.Stat("/big.dat.filepart")
	if err != nil || fi.Size() != minPartSize {
		t.Fatalf("stat after the disconnect = %v, %v; want part 1 kept", fi, err)
	}
	g, err := c.OpenFile("/big.dat.filepart", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatalf("reopen to resume: %v", err)
	}
	if _, err := g.WriteAt(data[fi.Size():], fi.Size()); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("/big.dat.filepart", "/big.dat"); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, c, "/big.dat"); !bytes.Equal(got, data) {
		t.Fatalf("resumed download: %d bytes differ from the %d sent", len(got), len(data))
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	sent := l.bodies[2]
	if len(sent) != 2 || len(sent[0]) != len(sent[1]) {
		t.Fatalf("part 2 sent %d times; want twice, the same size (in flight at the disconnect, then resumed)", len(sent))
	}
	_, meta := rawObject(t, e, home+"big.dat")
	dk, err := e.fs.Sealing().DataKey(context.Background(), meta, objfmt.Binding{Bucket: srv.Bucket, Home: home, Key: "big.dat"})
	if err != nil {
		t.Fatal(err)
	}
	first := int64(minPartSize / objfmt.ChunkSize) // part 2's first chunk
	for c := 0; c*objfmt.CipherChunkSize < len(sent[0]); c++ {
		if bytes.Equal(sent[0][c*objfmt.CipherChunkSize:][:objfmt.Overhead], sent[1][c*objfmt.CipherChunkSize:][:objfmt.Overhead]) {
			t.Fatalf("chunk %d of the same bytes was sealed twice under one nonce", first+int64(c))
		}
	}
	var plain [2][]byte
	for i, body := range sent {
		obj, err := objfmt.NewObject(dk, meta)
		if err != nil {
			t.Fatal(err)
		}
		if plain[i], err = obj.Open(nil, body, first, objfmt.Chunks(int64(len(data)))-1); err != nil {
			t.Fatalf("part 2 as sent the %d. time does not decrypt: %v", i+1, err)
		}
	}
	if !bytes.Equal(plain[0], plain[1]) || !bytes.Equal(plain[0], data[minPartSize:2*minPartSize]) {
		t.Error("the two sendings of part 2 hold other bytes than the file's")
	}
}
