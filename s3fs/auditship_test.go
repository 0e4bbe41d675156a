package s3fs

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestAuditShipper_StoresSegmentsOnce(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	ship := e.fs.AuditShipper(e.s3.Bucket, "audit/")
	ctx := context.Background()
	seg := []byte(`{"seq":1,"event":"server_start"}` + "\n")
	if err := ship.Ship(ctx, "2026/11/24/a.jsonl", seg); err != nil {
		t.Fatalf("Ship: %v", err)
	}
	if got, ok := e.s3.Get(t, "audit/2026/11/24/a.jsonl"); !ok || !bytes.Equal(got, seg) {
		t.Fatalf("stored %q (exists %v); want the segment", got, ok)
	}
	// A retry of a segment that did arrive succeeds and changes nothing.
	if err := ship.Ship(ctx, "2026/11/24/a.jsonl", seg); err != nil {
		t.Errorf("Ship of the same segment again = %v; want nil", err)
	}
	// A different segment under a taken name is refused: segments are never overwritten.
	err := ship.Ship(ctx, "2026/11/24/a.jsonl", []byte(`{"seq":1,"event":"forged"}`+"\n"))
	if err == nil || !strings.Contains(err.Error(), "a different object already has this name") {
		t.Errorf("Ship over a different segment = %v; want refused", err)
	}
	if got, _ := e.s3.Get(t, "audit/2026/11/24/a.jsonl"); !bytes.Equal(got, seg) {
		t.Errorf("stored segment changed to %q", got)
	}
}
