package upload

import (
	"bytes"
	"io"
	"testing"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/store"
)

// uneven is a gate that passes its input on whole but cut differently from
// the parts, as OpenPGP decryption does: part i's output is out[i] bytes of
// what it holds (the rest waits), everything at the last Write.
type uneven struct {
	out  []int
	n    int
	held []byte
}

func (g *uneven) Write(p []byte, last bool) ([]byte, error) {
	g.held = append(g.held, p...)
	k := len(g.held)
	if !last {
		k = min(k, g.out[min(g.n, len(g.out)-1)])
	}
	g.n++
	out := append([]byte(nil), g.held[:k]...)
	g.held = g.held[k:]
	return out, nil
}
func (g *uneven) Finish() error                         { return nil }
func (g *uneven) Abort()                                {}
func (g *uneven) Note(*audit.Record, map[string]string) {}

// TestUpload_GateOutputShorterThanAPartIsHeldBack: a gate whose output for
// a part is less than S3's 5 MiB minimum (1 MiB, nothing, 3 MiB, ...) still
// makes a whole object (S3 refuses a multipart upload with a short part
// that is not the last), with exactly the bytes the gate passed on.
func TestUpload_GateOutputShorterThanAPartIsHeldBack(t *testing.T) {
	cfg, s := testConfig(t, 64<<20)
	data := randBytes(4*MinPartSize + 12345)
	g := &uneven{out: []int{1 << 20, 0, 3 << 20, 7 << 20, 2 << 20}}
	u := New(cfg, s, File{Path: "/report.csv", Key: "u/report.csv", Overwrite: true, Gates: []Gate{g}})
	for off := 0; off < len(data); off += 32 << 10 {
		if _, err := u.WriteAt(data[off:min(off+32<<10, len(data))], int64(off)); err != nil {
			t.Fatalf("WriteAt %d: %v", off, err)
		}
	}
	if err := u.Close(); err != nil {
		t.Fatalf("Close = %v; want the object stored", err)
	}
	r, err := cfg.Store.Get(t.Context(), store.GetRequest{Bucket: s.bucket, Key: "u/report.csv"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("stored %d bytes; want the %d the gate passed on, the same", len(got), len(data))
	}
}
