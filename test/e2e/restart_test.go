package e2e

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestE2E_RestartUnderLoad restarts the gateway (SIGTERM, then a new
// process) while clients upload: every upload a client was told succeeded
// is in S3 byte for byte, and no object holds anything but a whole file.
func TestE2E_RestartUnderLoad(t *testing.T) {
	s3srv := s3test.Start(t)
	var current atomic.Pointer[gateway]
	current.Store(startGateway(t, s3srv, gatewayOpts{}))
	const clients, files = 4, 3
	type result struct {
		name string
		data []byte
		ok   bool // some attempt's sftp exited 0
	}
	results := make(chan result, clients*files)
	var retries atomic.Int32
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := t.TempDir()
			for f := range files {
				name := fmt.Sprintf("c%d-f%d.bin", c, f)
				data := writeRandom(t, filepath.Join(dir, name), int64(6<<20+c*1000+f)) // multipart: parts are in S3 when the restart comes
				ok := false
				for try := 0; try < 20 && !ok; try++ { // a batch job retrying while the server restarts
					_, err := current.Load().sftp(t, dir, "acme", clientKeys["ed25519"], "put "+name+"\n", "-l", "40000")
					ok = err == nil
					if !ok {
						retries.Add(1)
						time.Sleep(200 * time.Millisecond)
					}
				}
				results <- result{name, data, ok}
			}
		}()
	}
	waitFor(t, 20*time.Second, "uploads under way", func() bool { return len(s3srv.MultipartUploads(t)) >= 2 })
	current.Load().stop(t)
	current.Store(startGateway(t, s3srv, gatewayOpts{}))
	wg.Wait()
	close(results)

	failed := 0
	for r := range results {
		got, stored := s3srv.Get(t, "partners/acme/"+r.name)
		switch {
		case r.ok && !stored:
			t.Errorf("%s: the client was told it succeeded, and S3 does not have it", r.name)
		case stored && !bytes.Equal(got, r.data):
			t.Errorf("%s: S3 holds %d bytes that are not the file's %d", r.name, len(got), len(r.data))
		case !r.ok:
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d files never uploaded in 20 tries across the restart", failed)
	}
	t.Logf("%d uploads, %d attempts refused or cut by the restart and retried", clients*files, retries.Load())
	if ups := s3srv.MultipartUploads(t); len(ups) != 0 {
		t.Errorf("multipart uploads left behind: %v", ups)
	}
}
