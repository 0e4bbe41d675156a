package s3fs

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// TestRewrapObject_LargeKeepsTime: rewrap moves an object over 5 GiB by a
// multipart copy onto itself, which keeps no tags by itself; the time a
// partner set on the file (kept in a tag) must survive it, as it does the
// one-CopyObject move of a smaller object. The 5 GiB limit is lowered, so a
// 6 MiB object takes the multipart path.
func TestRewrapObject_LargeKeepsTime(t *testing.T) {
	if embeddedStore() {
		t.Skip("the embedded store keeps no tags and has no UploadPartCopy; versitygw runs this test")
	}
	e, _ := newEnvelopeEnv(t)
	c := e.session(t, "u/", auth.AllPerms)
	plain := randBytes(6 << 20)
	if err := writeFile(t, c, "/big.bin", plain); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
	if err := c.Chtimes("/big.bin", mtime, mtime); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	head, err := e.obj.Head(ctx, store.HeadRequest{Bucket: e.s3.Bucket, Key: "u/big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if !objfmt.MtimeTagged(head.Metadata) {
		t.Fatalf("setstat kept the time in metadata %v; this test needs it in a tag", head.Metadata)
	}
	e.fs.selfCopyLimit = 5 << 20
	if err := e.fs.RewrapObject(ctx, e.s3.Bucket, "u/", "u/big.bin", head.Size, head.ETag, head.Metadata); err != nil {
		t.Fatalf("rewrap: %v", err)
	}
	after, err := e.obj.Head(ctx, store.HeadRequest{Bucket: e.s3.Bucket, Key: "u/big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if after.ETag == head.ETag {
		t.Fatal("the object was not copied")
	}
	c2 := e.session(t, "u/", auth.AllPerms)
	fi, err := c2.Stat("/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("stat after rewrap: mtime %v; want %v, the time set before", fi.ModTime().UTC(), mtime)
	}
	if got := readFile(t, c2, "/big.bin"); !bytes.Equal(got, plain) {
		t.Errorf("after rewrap the file reads %d bytes differing from the %d uploaded", len(got), len(plain))
	}
}
