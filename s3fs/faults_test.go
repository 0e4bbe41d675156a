package s3fs

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// faultTally counts what happened to the transfers of a fault test.
type faultTally struct{ tried, ok, failedClean, corrupted int }

// TestFaults: with a real fault-injecting proxy (toxiproxy) and an HTTP
// proxy answering a share of requests with 503 SlowDown and 500
// InternalError between s3fs and the store, every upload either stores the
// exact bytes or fails to the client and leaves the previous object as it
// was; every download returns the exact bytes or fails; a listing shows
// only whole files. What S3 holds is checked on a direct connection.
func TestFaults(t *testing.T) {
	srv := s3test.Start(t)
	tp := s3test.StartToxiproxy(t, srv.Endpoint)
	ep := s3test.StartErrorProxy(t, tp.Endpoint)
	cfg := testConfig(srv, ChecksumsCompat)
	cfg.Endpoint = ep.Endpoint
	e := envOn(t, srv, cfg)

	faults := []struct {
		name   string
		toxics []s3test.Toxic
		share  float64 // of requests answered 503/500
	}{
		{name: "503-and-500", share: 0.2},
		{name: "reset-peer", toxics: []s3test.Toxic{{Type: "reset_peer", Stream: "downstream", Toxicity: 0.1, Attributes: map[string]int{"timeout": 20}}}},
		{name: "timeout", toxics: []s3test.Toxic{{Type: "timeout", Stream: "downstream", Toxicity: 0.1, Attributes: map[string]int{"timeout": 300}}}},
		{name: "latency", toxics: []s3test.Toxic{{Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: map[string]int{"latency": 40, "jitter": 30}}}},
		{name: "bandwidth", toxics: []s3test.Toxic{
			{Type: "bandwidth", Stream: "downstream", Toxicity: 1, Attributes: map[string]int{"rate": 20000}},
			{Type: "bandwidth", Stream: "upstream", Toxicity: 1, Attributes: map[string]int{"rate": 20000}}}},
		{name: "cut-answers", toxics: []s3test.Toxic{{Type: "limit_data", Stream: "downstream", Toxicity: 0.2, Attributes: map[string]int{"bytes": 300000}}}},
		{name: "cut-requests", toxics: []s3test.Toxic{{Type: "limit_data", Stream: "upstream", Toxicity: 0.2, Attributes: map[string]int{"bytes": 3 << 20}}}},
		{name: "sliced", toxics: []s3test.Toxic{{Type: "slicer", Stream: "downstream", Toxicity: 1, Attributes: map[string]int{"average_size": 2000, "size_variation": 1500}}}},
		{name: "everything", share: 0.1, toxics: []s3test.Toxic{
			{Type: "reset_peer", Stream: "downstream", Toxicity: 0.05, Attributes: map[string]int{"timeout": 20}},
			{Type: "limit_data", Stream: "downstream", Toxicity: 0.1, Attributes: map[string]int{"bytes": 500000}},
			{Type: "latency", Stream: "upstream", Toxicity: 1, Attributes: map[string]int{"latency": 10}}}},
	}
	var all faultTally
	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			prefix := fmt.Sprintf("partners/f%d/", i)
			big := randBytes(8 << 20)
			srv.Put(t, prefix+"big.bin", big)
			srv.Put(t, prefix+"prev.bin", []byte("the previous version"))
			c := e.session(t, prefix, auth.AllPerms)
			for _, tx := range f.toxics {
				tp.AddToxic(t, tx)
			}
			ep.SetShare(f.share)
			tally := faultWorkload(t, e, c, prefix, big)
			ep.SetShare(0)
			tp.RemoveToxics(t)
			t.Logf("%s: %d transfers tried, %d succeeded, %d failed cleanly, %d corrupted", f.name, tally.tried, tally.ok, tally.failedClean, tally.corrupted)
			all.tried, all.ok, all.failedClean, all.corrupted = all.tried+tally.tried, all.ok+tally.ok, all.failedClean+tally.failedClean, all.corrupted+tally.corrupted
		})
	}
	total, refused := ep.Counts()
	t.Logf("all faults: %d transfers tried, %d succeeded, %d failed cleanly, %d corrupted; %d of %d S3 requests answered 503/500",
		all.tried, all.ok, all.failedClean, all.corrupted, refused, total)
	if ups := srv.MultipartUploads(t); len(ups) != 0 {
		t.Errorf("multipart uploads left open: %v", ups)
	}
}

// TestFaults_Storm: when S3 refuses every request, every transfer fails to
// the client after a bounded number of tries, and nothing changes in S3.
func TestFaults_Storm(t *testing.T) {
	srv := s3test.Start(t)
	ep := s3test.StartErrorProxy(t, srv.Endpoint)
	cfg := testConfig(srv, ChecksumsCompat)
	cfg.Endpoint, cfg.MaxAttempts = ep.Endpoint, 2
	e := envOn(t, srv, cfg)
	big := randBytes(8 << 20)
	srv.Put(t, "partners/storm/big.bin", big)
	srv.Put(t, "partners/storm/prev.bin", []byte("the previous version"))
	c := e.session(t, "partners/storm/", auth.AllPerms)
	ep.SetShare(1)
	tally := faultWorkload(t, e, c, "partners/storm/", big)
	ep.SetShare(0)
	total, refused := ep.Counts()
	t.Logf("storm: %d transfers tried, %d succeeded, %d failed cleanly, %d corrupted; %d requests, all refused", tally.tried, tally.ok, tally.failedClean, tally.corrupted, total)
	if tally.ok != 0 || tally.failedClean != tally.tried || refused != total {
		t.Errorf("%d of %d transfers succeeded, %d of %d requests refused; want every transfer failed", tally.ok, tally.tried, refused, total)
	}
}

// faultWorkload uploads new files and overwrites, downloads, and lists under
// a fault, checking each outcome against what S3 holds.
func faultWorkload(t *testing.T, e *env, c *sftp.Client, prefix string, big []byte) faultTally {
	t.Helper()
	var tally faultTally
	want := map[string][]byte{"prev.bin": []byte("the previous version"), "big.bin": big}
	for i, size := range []int{0, 100 << 10, 6 << 20, 11<<20 + 5, 3 << 20} {
		name := fmt.Sprintf("new%d.bin", i)
		if i%2 == 1 {
			name = "prev.bin" // an overwrite: a failure must leave the last version whole
		}
		data := randBytes(size)
		tally.tried++
		err := writeFile(t, c, "/"+name, data)
		if err == nil {
			want[name] = data
		}
		got, stored := e.s3.Get(t, prefix+name)
		prev, existed := want[name]
		switch {
		case stored != existed || !bytes.Equal(got, prev):
			tally.corrupted++
			t.Errorf("upload %s of %d bytes (err %v): S3 holds %d bytes (exists %v); want %d bytes (exists %v)",
				name, size, err, len(got), stored, len(prev), existed)
		case err == nil:
			tally.ok++
		default:
			tally.failedClean++
		}
	}
	for range 2 {
		tally.tried++
		got, err := readAll(c, "/big.bin")
		switch {
		case err != nil:
			tally.failedClean++
		case !bytes.Equal(got, big):
			tally.corrupted++
			t.Errorf("download returned %d bytes that are not the object's %d", len(got), len(big))
		default:
			tally.ok++
		}
	}
	if entries, err := c.ReadDir("/"); err == nil {
		for _, fi := range entries {
			if w, ok := want[fi.Name()]; !ok || int64(len(w)) != fi.Size() {
				t.Errorf("listing shows %s with %d bytes; the only whole files are %d bytes (exists %v)", fi.Name(), fi.Size(), len(w), ok)
			}
		}
	}
	return tally
}

// readAll downloads a file, returning the error instead of failing the test.
func readAll(c *sftp.Client, path string) ([]byte, error) {
	f, err := c.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	_, err = f.WriteTo(&buf)
	return buf.Bytes(), err
}
