package s3fs

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/store"
)

// countingS3 counts the GETs sent to the real store.
type countingS3 struct {
	store.Objects
	gets atomic.Int32
}

func (c *countingS3) Get(ctx context.Context, r store.GetRequest) (store.Reading, error) {
	c.gets.Add(1)
	return c.Objects.Get(ctx, r)
}

// TestDownload_OneStreamingGET: a client's pipelined 32 KiB reads of a whole
// file are served from one GET (and the first read's own, made before reads
// are known to run in sequence), not one request per read.
func TestDownload_OneStreamingGET(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	data := randBytes(40<<20 + 12345)
	e.s3.Put(t, "u/big.bin", data)
	counter := &countingS3{Objects: e.obj}
	e.through(counter)
	c := e.session(t, "u/", auth.AllPerms)
	if got := readFile(t, c, "/big.bin"); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes differ from the %d stored", len(got), len(data))
	}
	if n := counter.gets.Load(); n != 2 {
		t.Errorf("a sequential download of 40 MiB sent %d GETs; want 2", n)
	}
}

// TestDownload_Seeks: reget's resume mid-file, a jump back to a block already
// dropped and a jump far ahead all return the right bytes.
func TestDownload_Seeks(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	data := randBytes(48 << 20)
	e.s3.Put(t, "u/big.bin", data)
	c := e.session(t, "u/", auth.AllPerms)
	f, err := c.Open("/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 32<<10)
	for _, off := range []int64{
		20 << 20,             // reget resumes mid-file
		20<<20 + 32<<10,      // and goes on
		30 << 20,             // a little ahead: the stream catches up
		1 << 20,              // far behind: own ranged GET
		47<<20 + 1000,        // near the end
		int64(len(data)) - 5, // the last bytes
	} {
		n, err := f.ReadAt(buf, off)
		want := data[off:min(off+int64(len(buf)), int64(len(data)))]
		if n != len(want) || !bytes.Equal(buf[:n], want) {
			t.Errorf("ReadAt(%d) = %d bytes, %v; want the %d stored bytes", off, n, err, len(want))
		}
	}
}

// TestDownload_ReplacedObjectIsNotSpliced: when the object is replaced while
// a client reads it, a read that needs a new GET fails with a clear error
// instead of returning bytes of the new version.
func TestDownload_ReplacedObjectIsNotSpliced(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	old := randBytes(16 << 20)
	e.s3.Put(t, "u/f.bin", old)
	c := e.session(t, "u/", auth.AllPerms)
	f, err := c.Open("/f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 32<<10)
	for off := int64(0); off <= 10<<20; off += 1 << 20 { // read on, so block 0 is dropped
		if _, err := f.ReadAt(buf, off); err != nil {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
	}
	e.s3.Put(t, "u/f.bin", randBytes(16<<20))
	n, err := f.ReadAt(buf, 0)
	if err == nil {
		t.Fatalf("read of a replaced object succeeded with %d bytes (same as old: %v)", n, bytes.Equal(buf[:n], old[:n]))
	}
	if !strings.Contains(err.Error(), "replaced meanwhile") {
		t.Errorf("error = %q; want it to say the file was replaced", err)
	}
}
