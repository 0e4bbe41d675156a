package ops

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/auth"
)

// createUploadID starts a multipart upload with the real client, as a
// gateway that then died would have, and returns its id.
func createUploadID(t *testing.T, e *env, key string) string {
	t.Helper()
	out, err := e.api.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.s3.Bucket, Key: &key})
	if err != nil {
		t.Fatalf("create multipart upload %s: %v", key, err)
	}
	return aws.ToString(out.UploadId)
}

// initiated is when each upload in progress was initiated, by key.
func initiated(t *testing.T, e *env) map[string]time.Time {
	t.Helper()
	out, err := e.api.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.s3.Bucket})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	at := map[string]time.Time{}
	for _, u := range out.Uploads {
		at[aws.ToString(u.Key)] = aws.ToTime(u.Initiated)
	}
	return at
}

// TestSweep_AbortsOnlyOldUploadsUnderHomes: with the clock moved so that
// only the uploads made before a pause are older than age, a sweep of two
// homes aborts exactly those under the homes, and keeps the young one, the
// one outside every home and the one this process has in flight (a session
// writing it). Pages of two uploads exercise the markers.
func TestSweep_AbortsOnlyOldUploadsUnderHomes(t *testing.T) {
	e := newEnv(t)
	// home/b/old.bin twice: two uploads of one key; home/ab/ starts like home/a but is no home.
	for _, key := range []string{"home/a/old.bin", "home/a/sub/old.bin", "home/b/old.bin", "home/b/old.bin", "outside/old.bin", "home/ab/old.bin"} {
		createUploadID(t, e, key)
	}
	c := e.session(t, "home/a/", auth.AllPerms)
	f, err := c.OpenFile("/live.bin", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(5<<20 + 1234)
	if _, err := f.Write(data); err != nil { // its first part is on its way: the upload exists
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // stores record Initiated to the second
	createUploadID(t, e, "home/a/young.bin")

	at := initiated(t, e)
	if len(at) != 7 {
		t.Fatalf("got uploads in progress of %v; want 7 keys", slices.Sorted(maps.Keys(at)))
	}
	for k, when := range at {
		if when.IsZero() {
			t.Fatalf("upload %s: got no Initiated time from ListMultipartUploads; want one (the sweep depends on it)", k)
		}
	}
	const age = time.Hour
	young := at["home/a/young.bin"]
	sweep := Sweep{FS: e.fs, Now: func() time.Time { return young.Add(age - time.Millisecond) }, Page: 2}
	homes := []Prefix{{e.s3.Bucket, "home/a/"}, {e.s3.Bucket, "home/b/"}}
	results, err := sweep.Run(context.Background(), homes, age)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	gotAborted := map[string]int{}
	for _, r := range results {
		gotAborted[r.Prefix.Prefix] = len(r.Aborted)
	}
	if want := map[string]int{"home/a/": 2, "home/b/": 2}; !maps.Equal(gotAborted, want) {
		t.Errorf("got aborted per home = %v; want %v", gotAborted, want)
	}
	keys := uploadsInProgress(t, e)
	slices.Sort(keys)
	if want := []string{"home/a/live.bin", "home/a/young.bin", "home/ab/old.bin", "outside/old.bin"}; !slices.Equal(keys, want) {
		t.Errorf("got uploads left = %v; want %v", keys, want)
	}
	results, err = sweep.Run(context.Background(), homes, age)
	if err != nil {
		t.Fatalf("second sweep: %v", err)
	}
	for _, r := range results {
		if len(r.Aborted) != 0 {
			t.Errorf("second sweep of %s: got aborted %v; want nothing more", r.Prefix.Prefix, r.Aborted)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close of the upload the sweeps spared: %v", err)
	}
	if got, _ := e.s3.Get(t, "home/a/live.bin"); !bytes.Equal(got, data) {
		t.Errorf("got object of %d bytes; want the %d bytes written", len(got), len(data))
	}
}

// TestSweep_EndsPendingAfterAge: a pending upload (closed under a temporary
// name, never renamed) is left to the sweep, which aborts it after the age
// and makes the FS forget it; nothing ever appears under the final name.
func TestSweep_EndsPendingAfterAge(t *testing.T) {
	e := newEnv(t)
	c := e.session(t, "sweep/", auth.AllPerms)
	if err := writeFile(t, c, "/y.filepart", randBytes(6<<20)); err != nil {
		t.Fatal(err)
	}
	p := []Prefix{{Bucket: e.s3.Bucket, Prefix: "sweep/"}}
	if r, err := (Sweep{FS: e.fs}).Run(context.Background(), p, time.Hour); err != nil || len(r[0].Aborted) != 0 {
		t.Fatalf("young sweep aborted %v, %v; want nothing", r, err)
	}
	later := Sweep{FS: e.fs, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
	if r, err := later.Run(context.Background(), p, time.Hour); err != nil || len(r[0].Aborted) != 1 {
		t.Fatalf("sweep after the age aborted %v, %v; want the pending upload", r, err)
	}
	if _, err := c.Stat("/y.filepart"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat after the sweep = %v; want not found", err)
	}
	if got := uploadsInProgress(t, e); len(got) != 0 {
		t.Errorf("uploads left after the sweep: %v", got)
	}
	if _, ok := e.s3.Get(t, "sweep/y"); ok {
		t.Error("the final name holds an object")
	}
}
