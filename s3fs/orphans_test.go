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

// createUpload starts a multipart upload with the real client, as a gateway
// that then died would have, and returns its id.
func createUpload(t *testing.T, e *env, key string) string {
	t.Helper()
	out, err := e.api.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.s3.Bucket, Key: &key})
	if err != nil {
		t.Fatalf("create multipart upload %s: %v", key, err)
	}
	return aws.ToString(out.UploadId)
}

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

// TestSweepOrphans_AbortsOnlyOldUploadsUnderHomes: with the clock moved so that
// only the uploads made before a pause are older than age, a sweep of two
// homes aborts exactly those under the homes, and keeps the young one, the one
// outside every home and the one this process has in flight. Pages of two
// uploads exercise the markers.
func TestSweepOrphans_AbortsOnlyOldUploadsUnderHomes(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	// home/b/old.bin twice: two uploads of one key; home/ab/ starts like home/a but is no home.
	for _, key := range []string{"home/a/old.bin", "home/a/sub/old.bin", "home/b/old.bin", "home/b/old.bin", "outside/old.bin", "home/ab/old.bin"} {
		createUpload(t, e, key)
	}
	live := createUpload(t, e, "home/a/live.bin")
	untrack := e.fs.track(live)
	defer untrack()
	time.Sleep(1100 * time.Millisecond) // stores record Initiated to the second
	createUpload(t, e, "home/a/young.bin")

	keys, initiated := uploadsInProgress(t, e)
	if len(keys) != 8 {
		t.Fatalf("got %d uploads in progress = %v; want 8", len(keys), keys)
	}
	for k, at := range initiated {
		if at.IsZero() {
			t.Fatalf("upload %s: got no Initiated time from ListMultipartUploads; want one (the sweep depends on it)", k)
		}
	}
	const age = time.Hour
	young := initiated["home/a/young.bin"]
	e.fs.now = func() time.Time { return young.Add(age - time.Millisecond) }
	e.fs.sweepPage = 2

	homes := []Prefix{{e.s3.Bucket, "home/a/"}, {e.s3.Bucket, "home/b/"}}
	results, err := e.fs.SweepOrphans(context.Background(), homes, age)
	if err != nil {
		t.Fatalf("SweepOrphans: %v", err)
	}
	gotAborted := map[string]int{}
	for _, r := range results {
		gotAborted[r.Prefix.Prefix] = len(r.Aborted)
	}
	if want := map[string]int{"home/a/": 2, "home/b/": 2}; !mapsEqual(gotAborted, want) {
		t.Errorf("got aborted per home = %v; want %v", gotAborted, want)
	}
	keys, _ = uploadsInProgress(t, e)
	if want := []string{"home/a/live.bin", "home/a/young.bin", "home/ab/old.bin", "outside/old.bin"}; !slices.Equal(keys, want) {
		t.Errorf("got uploads left = %v; want %v", keys, want)
	}

	results, err = e.fs.SweepOrphans(context.Background(), homes, age)
	if err != nil {
		t.Fatalf("second SweepOrphans: %v", err)
	}
	for _, r := range results {
		if len(r.Aborted) != 0 {
			t.Errorf("second sweep of %s: got aborted %v; want nothing more", r.Prefix.Prefix, r.Aborted)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSweepOrphans_SparesUploadInFlight: an upload a session is writing is
// never aborted, even by a sweep with age 0, and completes whole, tagged.
func TestSweepOrphans_SparesUploadInFlight(t *testing.T) {
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
	results, err := e.fs.SweepOrphans(context.Background(), []Prefix{{e.s3.Bucket, "u/"}}, 0)
	if err != nil {
		t.Fatalf("SweepOrphans: %v", err)
	}
	if len(results[0].Aborted) != 0 {
		t.Fatalf("got aborted %v; want the upload in flight spared", results[0].Aborted)
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
	if e.fs.inFlight(u.UploadID()) {
		t.Errorf("upload still tracked as in flight after Close")
	}
}
