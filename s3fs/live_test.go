package s3fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// uploadsInProgress returns the keys of the bucket's uploads in progress,
// sorted, and their initiation times by key.
func uploadsInProgress(t *testing.T, e *env) ([]string, map[string]time.Time) {
	t.Helper()
	out, err := e.api.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.s3.Bucket})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	initiated := map[string]time.Time{}
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
		initiated[aws.ToString(u.Key)] = aws.ToTime(u.Initiated)
	}
	slices.Sort(keys)
	return keys, initiated
}

// TestLive_UploadInFlightUntilClosed: an upload a session is writing is in
// flight (so the orphan sweep, ops.Sweep, spares it) until its CLOSE, and
// completes whole, marked as s3sftpd's.
func TestLive_UploadInFlightUntilClosed(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	u := openUpload(t, e, context.Background(), "/big.bin")
	data := make([]byte, minPartSize+1234)
	rand.Read(data)
	for off := 0; off < len(data); off += 32 << 10 {
		if _, err := u.WriteAt(data[off:min(off+32<<10, len(data))], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if keys, _ := uploadsInProgress(t, e); len(keys) != 1 {
		t.Fatalf("got uploads in progress = %v; want the one being written", keys)
	}
	if !e.fs.InFlight(u.UploadID()) {
		t.Fatal("the upload being written is not in flight")
	}
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, _ := e.s3.Get(t, "u/big.bin"); !bytes.Equal(got, data) {
		t.Fatalf("got object of %d bytes; want the %d bytes written", len(got), len(data))
	}
	head, err := e.api.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.s3.Bucket, Key: aws.String("u/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if got := head.Metadata["s3sftpd-upload"]; got != "1" {
		t.Errorf("got metadata s3sftpd-upload = %q; want \"1\" (metadata %v)", got, head.Metadata)
	}
	if e.fs.InFlight(u.UploadID()) {
		t.Errorf("upload still tracked as in flight after Close")
	}
}
