package store

import (
	"context"
	"io"
	"maps"
	"testing"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestObjects_CopyKeepsMetadataAndTags: a copy keeps the source's user
// metadata, content type and tags whether it is one CopyObject or a copy
// part by part (which keeps nothing by itself), and replaces them when
// asked; the body arrives whole either way.
func TestObjects_CopyKeepsMetadataAndTags(t *testing.T) {
	srv := s3test.Start(t)
	obj := dialServer(t, srv).Objects()
	ctx := context.Background()
	body := make([]byte, 6<<20+7)
	for i := range body {
		body[i] = byte(i * 7)
	}
	meta := map[string]string{"s3sftpd-mtime": "1049522828"}
	tags := map[string]string{"s3sftpd-sha256": "abc", "other-tool": "kept"}
	if _, err := obj.Put(ctx, PutRequest{Bucket: srv.Bucket, Key: "src", Body: body, Metadata: meta, ContentType: "text/csv"}); err != nil {
		t.Fatal(err)
	}
	src, err := obj.Head(ctx, HeadRequest{Bucket: srv.Bucket, Key: "src"})
	if err != nil {
		t.Fatal(err)
	}
	if err := obj.PutTags(ctx, srv.Bucket, "src", "", tags); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		req             CopyRequest
		wantMeta        map[string]string
		wantTags        map[string]string
		wantContentType string
	}{
		"one-copy":         {CopyRequest{}, meta, tags, "text/csv"},
		"parts":            {CopyRequest{PartsAbove: 5 << 20, PartsMetadata: map[string]string{"s3sftpd-upload": "1"}}, map[string]string{"s3sftpd-mtime": "1049522828", "s3sftpd-upload": "1"}, tags, "text/csv"},
		"one-copy-replace": {CopyRequest{Metadata: map[string]string{"a": "1"}, ContentType: "text/plain", Tags: map[string]string{"t": "2"}}, map[string]string{"a": "1"}, map[string]string{"t": "2"}, "text/plain"},
		"parts-replace":    {CopyRequest{PartsAbove: 5 << 20, Metadata: map[string]string{"a": "1"}, ContentType: "text/plain", Tags: map[string]string{"t": "2"}}, map[string]string{"a": "1"}, map[string]string{"t": "2"}, "text/plain"},
	} {
		t.Run(name, func(t *testing.T) {
			r := tc.req
			r.Bucket, r.From, r.To, r.IfMatch, r.Size = srv.Bucket, "src", "dst-"+name, src.ETag, src.Size
			if _, err := obj.Copy(ctx, r); err != nil {
				t.Fatalf("copy: %v", err)
			}
			got, err := obj.Get(ctx, GetRequest{Bucket: srv.Bucket, Key: r.To})
			if err != nil {
				t.Fatal(err)
			}
			defer got.Body.Close()
			b, err := io.ReadAll(got.Body)
			if err != nil || string(b) != string(body) {
				t.Errorf("copy holds %d bytes (err %v); want the %d of the source", len(b), err, len(body))
			}
			if !maps.Equal(got.Metadata, tc.wantMeta) {
				t.Errorf("metadata %v; want %v", got.Metadata, tc.wantMeta)
			}
			if got.ContentType != tc.wantContentType {
				t.Errorf("content type %q; want %q", got.ContentType, tc.wantContentType)
			}
			gotTags, err := obj.Tags(ctx, srv.Bucket, r.To, "")
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(gotTags, tc.wantTags) {
				t.Errorf("tags %v; want %v", gotTags, tc.wantTags)
			}
		})
	}
}

// TestObjects_ConditionalWrites: If-None-Match refuses a taken name and a
// stale If-Match refuses a copy, both as IsPrecondition, and neither
// changes the stored object.
func TestObjects_ConditionalWrites(t *testing.T) {
	srv := s3test.Start(t)
	obj := dialServer(t, srv).Objects()
	ctx := context.Background()
	if _, err := obj.Put(ctx, PutRequest{Bucket: srv.Bucket, Key: "k", Body: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	_, err := obj.Put(ctx, PutRequest{Bucket: srv.Bucket, Key: "k", Body: []byte("second"), IfNoneMatch: true})
	if !IsPrecondition(err) {
		t.Errorf("put of a taken name with IfNoneMatch = %v; want a precondition failure", err)
	}
	_, err = obj.Copy(ctx, CopyRequest{Bucket: srv.Bucket, From: "k", To: "k2", IfMatch: `"0123456789abcdef0123456789abcdef"`, Size: 5})
	if !IsPrecondition(err) {
		t.Errorf("copy pinned to another ETag = %v; want a precondition failure", err)
	}
	if _, err := obj.Head(ctx, HeadRequest{Bucket: srv.Bucket, Key: "k2"}); !IsNotFound(err) {
		t.Errorf("head of the refused copy = %v; want not found", err)
	}
	got, err := obj.Get(ctx, GetRequest{Bucket: srv.Bucket, Key: "k", Range: &Range{First: 1, Last: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	if b, _ := io.ReadAll(got.Body); string(b) != "irs" {
		t.Errorf("bytes 1-3 = %q; want %q (the first put's)", b, "irs")
	}
}
