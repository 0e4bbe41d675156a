package s3fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// embeddedStore reports whether the suite runs on the embedded store, which
// keeps no object tags (its multipart objects carry no SHA-256) and no checksums.
func embeddedStore() bool { return os.Getenv("S3SFTPD_TEST_STORE") == "embedded" }

// storedSum is the SHA-256 the object carries, in metadata or in its tag.
func storedSum(t *testing.T, e *env, key string) string {
	t.Helper()
	ctx := context.Background()
	head, err := e.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.s3.Bucket, Key: &key})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	if sum := head.Metadata[objfmt.MetaSHA256]; sum != "" {
		return sum
	}
	if embeddedStore() {
		return ""
	}
	tags, err := e.api.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &e.s3.Bucket, Key: &key})
	if err != nil {
		t.Fatalf("tags of %s: %v", key, err)
	}
	for _, tag := range tags.TagSet {
		if aws.ToString(tag.Key) == objfmt.MetaSHA256 {
			return aws.ToString(tag.Value)
		}
	}
	return ""
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestIntegrity_SHA256TravelsWithTheObject: every upload stores the SHA-256
// of its content on the object, and a rename (single or multipart copy)
// keeps it.
func TestIntegrity_SHA256TravelsWithTheObject(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	if !embeddedStore() { // it has no UploadPartCopy
		e.fs.copyLimit = 6 << 20 // the 11 MiB file is renamed by a multipart copy
	}
	c := e.session(t, "acme/", auth.AllPerms)
	for _, size := range []int{0, 1000, 5<<20 + 1, 11 << 20} {
		data := randBytes(size)
		if err := writeFile(t, c, "/f.bin", data); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		multipart := size > 5<<20
		want := sha256Hex(data)
		if multipart && embeddedStore() {
			want = "" // the embedded store keeps no tags
		}
		if got := storedSum(t, e, "acme/f.bin"); got != want {
			t.Fatalf("size %d: stored SHA-256 %q, want %q", size, got, want)
		}
		if err := c.Rename("/f.bin", "/g.bin"); err != nil {
			t.Fatalf("size %d: rename: %v", size, err)
		}
		if got := storedSum(t, e, "acme/g.bin"); got != want {
			t.Fatalf("size %d: after rename, stored SHA-256 %q, want %q", size, got, want)
		}
		if back := readFile(t, c, "/g.bin"); !bytes.Equal(back, data) {
			t.Fatalf("size %d: renamed file reads back different bytes", size)
		}
		if err := c.Remove("/g.bin"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIntegrity_DamagedObjectFailsTheDownload: content that no longer
// matches the SHA-256 stored at upload never reaches the client whole; the
// download fails and says why.
func TestIntegrity_DamagedObjectFailsTheDownload(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "acme/", auth.AllPerms)
	ctx := context.Background()
	sizes := []int{1000, 3<<20 + 5}
	if !embeddedStore() {
		sizes = append(sizes, 6<<20) // multipart: the sum is a tag
	}
	for _, size := range sizes {
		data := randBytes(size)
		if err := writeFile(t, c, "/f.bin", data); err != nil {
			t.Fatal(err)
		}
		key := "acme/f.bin"
		sum := storedSum(t, e, key)
		damaged := bytes.Clone(data)
		damaged[size/2] ^= 1
		// The store hands back other bytes under the same SHA-256, as a
		// damaged disk or a write behind the gateway's back would.
		if size < 5<<20 {
			_, err := e.api.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.s3.Bucket, Key: &key,
				Body: bytes.NewReader(damaged), Metadata: map[string]string{objfmt.MetaSHA256: sum}})
			if err != nil {
				t.Fatal(err)
			}
		} else {
			putMultipart(t, e, key, damaged, sum)
		}
		f, err := c.Open("/f.bin")
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = f.WriteTo(&got)
		f.Close()
		if err == nil || !strings.Contains(err.Error(), "does not match the checksum recorded when it was uploaded") {
			t.Fatalf("size %d: download of damaged content: err = %v, want a checksum mismatch", size, err)
		}
		if got.Len() >= size {
			t.Fatalf("size %d: client received all %d bytes of damaged content", size, got.Len())
		}
	}
}

// putMultipart stores data as a one-part multipart object tagged with sum.
func putMultipart(t *testing.T, e *env, key string, data []byte, sum string) {
	t.Helper()
	ctx := context.Background()
	up, err := e.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &e.s3.Bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	part, err := e.api.UploadPart(ctx, &s3.UploadPartInput{Bucket: &e.s3.Bucket, Key: &key, UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &e.s3.Bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.api.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &e.s3.Bucket, Key: &key,
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String(objfmt.MetaSHA256), Value: &sum}}}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestIntegrity_FullObjectCRC32C: in "aws" mode S3 is given the CRC32C of
// the whole object, checks it against what it stored, and keeps it.
func TestIntegrity_FullObjectCRC32C(t *testing.T) {
	if embeddedStore() {
		t.Skip("the embedded store keeps no checksums") // it accepts them unchecked; the versitygw run covers this
	}
	e := newEnv(t, ChecksumsAWS)
	c := e.session(t, "acme/", auth.AllPerms)
	for _, size := range []int{1000, 11<<20 + 7} {
		data := randBytes(size)
		if err := writeFile(t, c, "/f.bin", data); err != nil {
			t.Fatal(err)
		}
		head, err := e.api.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.s3.Bucket,
			Key: aws.String("acme/f.bin"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		want := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))))
		if got := aws.ToString(head.ChecksumCRC32C); got != want || head.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("size %d: stored CRC32C %q (%s), want %q (FULL_OBJECT)", size, got, head.ChecksumType, want)
		}
	}
}
