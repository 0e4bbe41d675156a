package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

func dialServer(t *testing.T, srv *s3test.Server) *Store {
	t.Helper()
	st, err := Dial(context.Background(), Config{
		Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
		SSE: SSEAES256, Checksums: ChecksumsCompat,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDial_RefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no-sse":         {Checksums: ChecksumsCompat},
		"sse-off":        {SSE: "none", Checksums: ChecksumsCompat},
		"checksums":      {SSE: SSEAES256, Checksums: "crc64"},
		"retry-mode":     {SSE: SSEAES256, Checksums: ChecksumsAWS, RetryMode: "eager"},
		"negative-tries": {SSE: SSEAES256, Checksums: ChecksumsAWS, MaxAttempts: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrBadConfig) {
				t.Errorf("Dial = %v; want ErrBadConfig", err)
			}
		})
	}
}

// TestStore_PutNewNeverOverwrites: the audit shipper's write stores a new
// name, and a taken name is ErrExists with the stored bytes untouched.
func TestStore_PutNewNeverOverwrites(t *testing.T) {
	srv := s3test.Start(t)
	st := dialServer(t, srv)
	ctx := context.Background()
	if err := st.PutNew(ctx, srv.Bucket, "audit/seg-1.jsonl", []byte("first\n"), "application/x-ndjson"); err != nil {
		t.Fatalf("PutNew of a free name: %v", err)
	}
	err := st.PutNew(ctx, srv.Bucket, "audit/seg-1.jsonl", []byte("second\n"), "application/x-ndjson")
	if !errors.Is(err, ErrExists) {
		t.Errorf("PutNew of a taken name = %v; want ErrExists", err)
	}
	r, err := st.Get(ctx, srv.Bucket, "audit/seg-1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); !bytes.Equal(got, []byte("first\n")) {
		t.Errorf("stored %q; want the first write kept", got)
	}
	head, err := st.Head(ctx, srv.Bucket, "audit/seg-1.jsonl")
	if err != nil || head.Size != int64(len("first\n")) || head.ETag == "" {
		t.Errorf("Head = %+v, %v; want the size and an ETag", head, err)
	}
}

func TestStore_HeadOfMissingIsNotFound(t *testing.T) {
	srv := s3test.Start(t)
	_, err := dialServer(t, srv).Head(context.Background(), srv.Bucket, "no/such/file")
	if !IsNotFound(err) || HTTPStatus(err) != http.StatusNotFound {
		t.Errorf("Head of a missing object = %v (status %d); want not found", err, HTTPStatus(err))
	}
}

// TestStore_ObjectsListsEveryPage: a listing longer than one page (here a
// store-chosen page of at most 1000) comes whole, in key order.
func TestStore_ObjectsListsEveryPage(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1001 objects")
	}
	srv := s3test.Start(t)
	st := dialServer(t, srv)
	ctx := context.Background()
	var want []string
	for i := range 1001 {
		key := "home/" + time.Duration(i).String() // distinct, unordered as written
		want = append(want, key)
		if err := st.PutNew(ctx, srv.Bucket, key, nil, "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	srv.Put(t, "elsewhere/x", []byte("x"))
	slices.Sort(want)
	var got []string
	if err := st.Walk(ctx, srv.Bucket, "home/", func(o Object) { got = append(got, o.Key) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d keys; want the %d under the prefix, in order", len(got), len(want))
	}
}

func TestStore_ReadyNamesTheMissingBucket(t *testing.T) {
	srv := s3test.Start(t)
	st := dialServer(t, srv)
	if err := st.Ready(context.Background(), srv.Bucket); err != nil {
		t.Errorf("Ready of the test bucket: %v", err)
	}
	err := st.Ready(context.Background(), "no-such-bucket-s3sftpd")
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("no-such-bucket-s3sftpd")) {
		t.Errorf("Ready of a missing bucket = %v; want an error naming it", err)
	}
}

// TestStore_OlderVersionsSkipsTheCurrent: rewrap counts only noncurrent
// versions.
func TestStore_OlderVersionsSkipsTheCurrent(t *testing.T) {
	srv := s3test.StartVersioned(t)
	st := dialServer(t, srv)
	ctx := context.Background()
	for _, body := range []string{"v1", "v2", "v3"} {
		srv.Put(t, "home/f.csv", []byte(body))
	}
	if ok, err := st.Versioned(ctx, srv.Bucket); err != nil || !ok {
		t.Fatalf("Versioned = %v, %v; want true", ok, err)
	}
	var older []Object
	if err := st.OlderVersions(ctx, srv.Bucket, "home/", func(o Object) { older = append(older, o) }); err != nil {
		t.Fatal(err)
	}
	if len(older) != 2 {
		t.Fatalf("%d older versions; want 2", len(older))
	}
	for _, o := range older {
		head, err := st.HeadVersion(ctx, srv.Bucket, o.Key, o.VersionID)
		if err != nil || head.VersionID != o.VersionID || head.Size != 2 {
			t.Errorf("HeadVersion(%s) = %+v, %v; want that version", o.VersionID, head, err)
		}
	}
}

// TestObjects_DeleteExact: an unversioned object is deleted only while it
// has the ETag named; in a versioned bucket only the version named goes,
// and the newer one stays.
func TestObjects_DeleteExact(t *testing.T) {
	ctx := context.Background()
	t.Run("etag", func(t *testing.T) {
		srv := s3test.Start(t)
		obj := dialServer(t, srv).Objects()
		srv.Put(t, "out/a.csv", []byte("first"))
		head, err := obj.Head(ctx, HeadRequest{Bucket: srv.Bucket, Key: "out/a.csv"})
		if err != nil {
			t.Fatal(err)
		}
		srv.Put(t, "out/a.csv", []byte("second, newer"))
		err = obj.DeleteExact(ctx, DeleteRequest{Bucket: srv.Bucket, Key: "out/a.csv", IfMatch: head.ETag})
		if !IsPrecondition(err) {
			t.Errorf("DeleteExact of a changed object = %v; want a failed precondition", err)
		}
		if _, ok := srv.Get(t, "out/a.csv"); !ok {
			t.Fatalf("the newer object was deleted")
		}
		now, _ := obj.Head(ctx, HeadRequest{Bucket: srv.Bucket, Key: "out/a.csv"})
		if err := obj.DeleteExact(ctx, DeleteRequest{Bucket: srv.Bucket, Key: "out/a.csv", IfMatch: now.ETag}); err != nil {
			t.Fatal(err)
		}
		if _, ok := srv.Get(t, "out/a.csv"); ok {
			t.Errorf("DeleteExact with the current ETag left the object")
		}
	})
	t.Run("version", func(t *testing.T) {
		srv := s3test.StartVersioned(t)
		obj := dialServer(t, srv).Objects()
		srv.Put(t, "out/a.csv", []byte("first"))
		head, err := obj.Head(ctx, HeadRequest{Bucket: srv.Bucket, Key: "out/a.csv"})
		if err != nil || head.VersionID == "" {
			t.Fatalf("head = %+v, %v; want a version id", head, err)
		}
		srv.Put(t, "out/a.csv", []byte("second"))
		if err := obj.DeleteExact(ctx, DeleteRequest{Bucket: srv.Bucket, Key: "out/a.csv", VersionID: head.VersionID}); err != nil {
			t.Fatal(err)
		}
		if got, ok := srv.Get(t, "out/a.csv"); !ok || string(got) != "second" {
			t.Errorf("after deleting the first version the object reads %q, %v; want the second", got, ok)
		}
		if _, err := obj.Head(ctx, HeadRequest{Bucket: srv.Bucket, Key: "out/a.csv", VersionID: head.VersionID}); err == nil {
			t.Errorf("the deleted version is still there")
		}
	})
}
