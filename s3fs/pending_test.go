package s3fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// copyCounter counts the server-side copies s3fs asks for.
type copyCounter struct {
	store.Objects
	copies atomic.Int32
}

func (c *copyCounter) Copy(ctx context.Context, r store.CopyRequest) (store.Written, error) {
	c.copies.Add(1)
	return c.Objects.Copy(ctx, r)
}

// countingEnv is an env whose FS counts its copies.
func countingEnv(t *testing.T, cfg Config, srv *s3test.Server) (*env, *copyCounter) {
	t.Helper()
	client, err := dialStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cc := &copyCounter{Objects: objectsOver(client, cfg)}
	fsys, err := New(cc, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	return &env{s3: srv, fs: fsys, api: client, obj: fsys.obj.(keptime.Indexing).Objects, cfg: cfg}, cc
}

// pendingUploads lists the multipart uploads in progress under prefix.
func pendingUploads(t *testing.T, e *env, prefix string) []string {
	t.Helper()
	out, err := e.api.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.s3.Bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// TestPending_RenameCompletesWithoutCopy: a temporary file of several parts
// is uploaded under its final key and left pending at CLOSE; stat, listing
// and setstat see the temporary name; the rename completes the upload
// without a server-side copy, and the object keeps the time and SHA-256.
func TestPending_RenameCompletesWithoutCopy(t *testing.T) {
	srv := s3test.Start(t)
	for _, tc := range []struct {
		name     string
		envelope bool
		temp     string
	}{
		{"filepart", false, "/doc.bin.filepart"},
		{"rclone-partial", false, "/doc.bin.a1b2c3d4.partial"},
		{"envelope", true, "/doc.bin.filepart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(srv, ChecksumsAWS)
			if tc.envelope {
				cfg.Keys, cfg.Envelope = testKeyring(t), true
			}
			e, cc := countingEnv(t, cfg, srv)
			prefix := "pend-" + tc.name + "/"
			c := e.session(t, prefix, auth.AllPerms)
			if err := writeFile(t, c, "/doc.bin", []byte("the previous version")); err != nil {
				t.Fatal(err)
			}
			data := randBytes(12<<20 + 7)
			if err := writeFile(t, c, tc.temp, data); err != nil {
				t.Fatal(err)
			}
			if fi, err := c.Stat(tc.temp); err != nil || fi.Size() != int64(len(data)) {
				t.Fatalf("stat of the pending file = %v, %v; want size %d", fi, err, len(data))
			}
			if got := pendingUploads(t, e, prefix); len(got) != 1 || got[0] != prefix+"doc.bin" {
				t.Errorf("uploads in progress = %q; want one under the final key", got)
			}
			if got := mustRead(t, c, "/doc.bin"); string(got) != "the previous version" {
				t.Errorf("the final name changed before the rename")
			}
			names := map[string]int64{}
			entries, err := c.ReadDir("/")
			if err != nil {
				t.Fatal(err)
			}
			for _, fi := range entries {
				names[fi.Name()] = fi.Size()
			}
			if names[tc.temp[1:]] != int64(len(data)) {
				t.Errorf("listing = %v; want %s with %d bytes", names, tc.temp[1:], len(data))
			}
			mtime := time.Date(2019, 4, 5, 6, 7, 8, 0, time.UTC)
			if err := c.Chtimes(tc.temp, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			if err := c.Chmod(tc.temp, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := c.Rename(tc.temp, "/other.bin"); err == nil {
				t.Errorf("rename of a pending upload to another name succeeded")
			}
			if err := c.Remove("/doc.bin"); err != nil {
				t.Fatal(err)
			}
			if err := c.PosixRename(tc.temp, "/doc.bin"); err != nil {
				t.Fatalf("rename: %v", err)
			}
			if n := cc.copies.Load(); n != 0 && !embeddedStore() { // it keeps no tags: the time costs a self-copy there
				t.Errorf("%d server-side copies; want none", n)
			}
			if got := pendingUploads(t, e, prefix); len(got) != 0 {
				t.Errorf("uploads still in progress: %q", got)
			}
			if _, err := c.Stat(tc.temp); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stat of the temporary name after the rename = %v; want not found", err)
			}
			fi, err := c.Stat("/doc.bin")
			if err != nil || fi.Size() != int64(len(data)) || !fi.ModTime().Equal(mtime) {
				t.Errorf("stat after rename = %v, %v; want size %d, mtime %v", fi, err, len(data), mtime)
			}
			if got := mustRead(t, c, "/doc.bin"); !bytes.Equal(got, data) {
				t.Errorf("download after rename: %d bytes, not the %d uploaded", len(got), len(data))
			}
			if !tc.envelope && !embeddedStore() { // it keeps no tags
				key := prefix + "doc.bin"
				head, err := e.obj.Head(context.Background(), store.HeadRequest{Bucket: e.s3.Bucket, Key: key})
				if err != nil {
					t.Fatal(err)
				}
				h := &handlers{fs: e.fs, ctx: context.Background(), tenant: &auth.Tenant{Bucket: e.s3.Bucket}, log: testLog()}
				home := &vfs.Mount{Bucket: e.s3.Bucket}
				sum := sha256.Sum256(data)
				if got := h.storedSHA256(home, key, head); got != hex.EncodeToString(sum[:]) {
					t.Errorf("stored SHA-256 = %q; want the content's", got)
				}
				if got := h.objectTags(home, key, head)[objfmt.MetaMtime]; got != objfmt.FormatMtime(mtime) {
					t.Errorf("time tag = %q; want %d", got, mtime.Unix())
				}
			}
		})
	}
}

func mustRead(t *testing.T, c *sftp.Client, p string) []byte {
	t.Helper()
	b, err := readAll(c, p)
	if err != nil {
		t.Fatalf("download %s: %v", p, err)
	}
	return b
}

// TestPending_RemoveDiscards: deleting a pending temporary file aborts its
// upload; nothing appears under the final name.
func TestPending_RemoveDiscards(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "rm/", auth.AllPerms)
	if err := writeFile(t, c, "/x.filepart", randBytes(6<<20)); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("/x.filepart"); err != nil {
		t.Fatal(err)
	}
	if got := pendingUploads(t, e, "rm/"); len(got) != 0 {
		t.Errorf("uploads in progress after delete: %q", got)
	}
	if _, ok := e.s3.Get(t, "rm/x"); ok {
		t.Errorf("the final name appeared")
	}
}

// TestPending_ResumeAfterDisconnect: a connection lost while uploading a
// temporary file keeps its whole parts; a new session sees the partial size,
// writes the rest from there, renames, and the object holds the exact bytes.
func TestPending_ResumeAfterDisconnect(t *testing.T) {
	srv := s3test.Start(t)
	for _, envelope := range []bool{false, true} {
		cfg := testConfig(srv, ChecksumsAWS)
		if envelope {
			cfg.Keys, cfg.Envelope = testKeyring(t), true
		}
		t.Run(fmt.Sprintf("envelope-%v", envelope), func(t *testing.T) { resumeAfterDisconnect(t, envOn(t, srv, cfg), envelope) })
	}
}

func resumeAfterDisconnect(t *testing.T, e *env, envelope bool) {
	prefix := fmt.Sprintf("res-%v/", envelope)
	tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: prefix, Perms: auth.AllPerms}
	data := randBytes(13 << 20)
	clientConn, done := e.interruptedUpload(t, tenant, data)
	clientConn.Close() // the connection breaks with the file open
	<-done

	c := e.session(t, prefix, auth.AllPerms)
	fi, err := c.Stat("/big.dat.filepart")
	if err != nil {
		t.Fatalf("stat after the disconnect: %v", err)
	}
	if fi.Size() == 0 || fi.Size()%(5<<20) != 0 || fi.Size() > 12<<20 {
		t.Fatalf("partial size %d; want whole 5 MiB parts", fi.Size())
	}
	if _, ok := e.s3.Get(t, prefix+"big.dat"); ok {
		t.Fatalf("a partial object is visible under the final name")
	}
	g, err := c.OpenFile("/big.dat.filepart", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatalf("reopen to resume: %v", err)
	}
	if st, err := g.Stat(); err != nil || st.Size() != fi.Size() {
		t.Errorf("fstat of the resumed file = %v, %v; want %d", st, err, fi.Size())
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
	if got, _ := e.s3.Get(t, prefix+"big.dat"); !envelope && !bytes.Equal(got, data) {
		t.Fatalf("resumed object: %d bytes, not the %d sent", len(got), len(data))
	}
	if got := mustRead(t, c, "/big.dat"); !bytes.Equal(got, data) { // checks the SHA-256 tag too
		t.Errorf("download: %d bytes differ", len(got))
	}
}

// interruptedUpload writes data[:12 MiB] to /big.dat.filepart as tenant over
// a session of its own and leaves the file open. It returns the session's
// connection, whose Close breaks it as a lost client would, and a channel
// closed once the server side has ended.
func (e *env) interruptedUpload(t *testing.T, tenant *auth.Tenant, data []byte) (net.Conn, <-chan struct{}) {
	t.Helper()
	serverConn, clientConn := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rs := sftp.NewRequestServer(serverConn, e.fs.Handlers(ctx, tenant, testLog(), nil), sftp.WithStartDirectory("/"))
	done := make(chan struct{})
	go func() { rs.Serve(); close(done) }()
	c, err := sftp.NewClientPipe(clientConn, clientConn)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.OpenFile("/big.dat.filepart", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[:12<<20]); err != nil {
		t.Fatal(err)
	}
	return clientConn, done
}

// TestSHA256_Checksum: the check-file answer is the SHA-256 recorded at
// upload (metadata for a whole put, a tag for a multipart one); under
// envelope encryption none is kept in the clear, and the answer says so.
func TestSHA256_Checksum(t *testing.T) {
	srv := s3test.Start(t)
	for _, envelope := range []bool{false, true} {
		cfg := testConfig(srv, ChecksumsCompat)
		prefix := "sum-plain/"
		if envelope {
			cfg.Keys, cfg.Envelope = testKeyring(t), true
			prefix = "sum-envelope/"
		}
		e := envOn(t, srv, cfg)
		c := e.session(t, prefix, auth.AllPerms)
		tenant := &auth.Tenant{User: "tester", Bucket: srv.Bucket, Prefix: prefix, Perms: auth.AllPerms}
		h := e.fs.Handlers(context.Background(), tenant, testLog(), nil).FileCmd.(boundary.Edge).H.(*handlers)
		for _, size := range []int{100, 6 << 20} {
			if size > 100 && embeddedStore() {
				continue // it keeps no tags, where a multipart file's SHA-256 goes
			}
			data := randBytes(size)
			if err := writeFile(t, c, "/f.bin", data); err != nil {
				t.Fatal(err)
			}
			got, err := h.SHA256("/f.bin")
			want := sha256.Sum256(data)
			switch {
			case envelope && !errors.Is(err, sftp.ErrSSHFxOpUnsupported):
				t.Errorf("envelope, %d bytes: SHA256 = %x, %v; want op-unsupported", size, got, err)
			case !envelope && (err != nil || !bytes.Equal(got, want[:])):
				t.Errorf("%d bytes: SHA256 = %x, %v; want %x", size, got, err, want)
			}
		}
		if _, err := h.SHA256("/missing"); !errors.Is(err, sftp.ErrSSHFxNoSuchFile) {
			t.Errorf("SHA256 of a missing file: %v; want no such file", err)
		}
	}
}

// TestPending_ReplacesSmallTemporaryObject: a small upload stored the
// temporary name as an object; a later large one goes pending; its rename
// leaves neither behind.
func TestPending_ReplacesSmallTemporaryObject(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "stale/", auth.AllPerms)
	if err := writeFile(t, c, "/s.bin.filepart", randBytes(200<<10)); err != nil {
		t.Fatal(err)
	}
	data := randBytes(6 << 20)
	if err := writeFile(t, c, "/s.bin.filepart", data); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat("/s.bin.filepart"); err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("stat = %v, %v; want the pending upload's %d bytes", fi, err, len(data))
	}
	if err := c.Rename("/s.bin.filepart", "/s.bin"); err != nil {
		t.Fatal(err)
	}
	if got := e.s3.Keys(t, "stale/"); len(got) != 1 || got[0] != "stale/s.bin" {
		t.Errorf("keys after the rename = %q; want only stale/s.bin", got)
	}
	if got, _ := e.s3.Get(t, "stale/s.bin"); !bytes.Equal(got, data) {
		t.Errorf("stale/s.bin holds %d bytes; want the %d of the large upload", len(got), len(data))
	}
}
