package objfmt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"testing"
	"time"
)

// TestMtime: a kept time is unix seconds in decimal and reads back as
// written; the in-tag marker, an absent or a malformed value are no time.
func TestMtime(t *testing.T) {
	mtime := time.Date(2024, 3, 1, 12, 30, 45, 0, time.UTC)
	if got := FormatMtime(mtime); got != "1709296245" {
		t.Errorf("FormatMtime = %q; want unix seconds 1709296245", got)
	}
	if got, ok := Mtime(map[string]string{MetaMtime: "1709296245"}); !ok || !got.Equal(mtime) {
		t.Errorf("Mtime = %v, %v; want %v", got, ok, mtime)
	}
	for _, meta := range []map[string]string{nil, {MetaMtime: MtimeInTag}, {MetaMtime: ""}, {MetaMtime: "12.5"}} {
		if got, ok := Mtime(meta); ok {
			t.Errorf("Mtime(%v) = %v; want none", meta, got)
		}
	}
	if !MtimeTagged(map[string]string{MetaMtime: "tag"}) || MtimeTagged(map[string]string{MetaMtime: "1709296245"}) {
		t.Error("MtimeTagged: want true for the marker only")
	}
}

// TestWithMtime: the time is added to a copy, every other key kept; a zero
// time adds nothing.
func TestWithMtime(t *testing.T) {
	meta := map[string]string{"s3sftpd-upload": "1", MetaVersion: Version, "partner-tool": "x"}
	got := WithMtime(meta, time.Unix(1709296245, 0))
	want := map[string]string{"s3sftpd-upload": "1", MetaVersion: Version, "partner-tool": "x", MetaMtime: "1709296245"}
	if !maps.Equal(got, want) {
		t.Errorf("WithMtime = %v; want %v", got, want)
	}
	if _, ok := meta[MetaMtime]; ok {
		t.Error("WithMtime changed its argument")
	}
	if got := WithMtime(nil, time.Time{}); got == nil || len(got) != 0 {
		t.Errorf("WithMtime(nil, zero) = %v; want an empty map", got)
	}
}

// TestParseSHA256: only a whole hex SHA-256 is a recorded digest; anything
// else another tool (or an attacker) put there is none.
func TestParseSHA256(t *testing.T) {
	sum := sha256.Sum256([]byte("lab result"))
	if got, ok := ParseSHA256(hex.EncodeToString(sum[:])); !ok || !bytes.Equal(got, sum[:]) {
		t.Errorf("ParseSHA256 = %x, %v; want %x", got, ok, sum)
	}
	for _, s := range []string{"", "kept", hex.EncodeToString(sum[:16]), hex.EncodeToString(sum[:]) + "00"} {
		if got, ok := ParseSHA256(s); ok {
			t.Errorf("ParseSHA256(%q) = %x; want none", s, got)
		}
	}
}

// TestOwnTags: a copy carries the SHA-256 and time tags, not another
// tool's, and no empty value.
func TestOwnTags(t *testing.T) {
	tags := map[string]string{"s3sftpd-sha256": "abc", "s3sftpd-mtime": "1709296245", "backup": "daily", "s3sftpd-other": "x"}
	want := map[string]string{"s3sftpd-sha256": "abc", "s3sftpd-mtime": "1709296245"}
	if got := OwnTags(tags); !maps.Equal(got, want) {
		t.Errorf("OwnTags = %v; want %v", got, want)
	}
	if got := OwnTags(map[string]string{"s3sftpd-sha256": ""}); len(got) != 0 {
		t.Errorf("OwnTags of an empty value = %v; want none", got)
	}
}

// TestUploadMarker: the marker inventories look for is
// x-amz-meta-s3sftpd-upload: 1, and each call gets a map of its own.
func TestUploadMarker(t *testing.T) {
	m := UploadMarker()
	if !maps.Equal(m, map[string]string{"s3sftpd-upload": "1"}) {
		t.Errorf("UploadMarker = %v; want s3sftpd-upload: 1", m)
	}
	m["x"] = "y"
	if len(UploadMarker()) != 1 {
		t.Error("UploadMarker shares its map between calls")
	}
}
