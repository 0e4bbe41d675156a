// Package tryout is the embedded try-out store: an in-process S3-compatible
// server (gofakes3 over a bbolt file) that `endpoint = "embedded"` starts, so
// the gateway can be tried, and its tests run, without an S3 account; and
// the demo user's key pair, made on first start, with the command that
// connects with it (demokey.go).
//
// It checks no credentials, ignores encryption and keeps no tags or
// checksums: it is for trying the gateway out and for tests, never for PHI.
// Only cmd wires it (and tests may start it); s3fs and the S3 client code
// must not import it, so the packages that serve partners link none of its
// dependencies.
package tryout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	bolt "go.etcd.io/bbolt"
)

// Store is a running try-out store: objects live in one file under a
// directory, and the gateway reaches them over loopback HTTP through the
// same S3 client path as a real store (signing, multipart, ranges).
type Store struct {
	Endpoint string // http://127.0.0.1:PORT
	srv      *http.Server
	done     chan error
}

// Start serves dir on a free loopback port and creates the buckets that do
// not exist yet. The caller must Close the store.
func Start(dir string, buckets ...string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store dir: %w", err)
	}
	// gofakes3 reads objects out of bolt's memory map after the read
	// transaction ends; a write that grows the file remaps it, and such a
	// read (a copy's hash, a concurrent download) faults. Mapping far more
	// than a try-out store holds up front means the map never moves.
	db, err := bolt.Open(filepath.Join(dir, "objects.bolt"), 0o600, &bolt.Options{Timeout: time.Second, InitialMmapSize: 32 << 30})
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	clk := &putClock{}
	backend := s3bolt.New(db, s3bolt.WithTimeSource(clk))
	for _, b := range buckets {
		if ok, _ := backend.BucketExists(b); !ok {
			if err := backend.CreateBucket(b); err != nil {
				return nil, fmt.Errorf("embedded store: create bucket %s: %w", b, err)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	faker := gofakes3.New(replacingMetadata{backend, clk}, gofakes3.WithAutoBucket(false), gofakes3.WithTimeSkewLimit(0))
	s := &Store{
		Endpoint: "http://" + ln.Addr().String(),
		srv:      &http.Server{Handler: withoutTagging(faker.Server()), ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the store after requests in flight finish or ctx expires.
func (s *Store) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}

// withoutTagging answers object tagging requests with 501 NotImplemented, as
// S3-compatible stores without tags do. gofakes3 does not know ?tagging and
// would take a PutObjectTagging for a PutObject, replacing the file with
// the tag document.
func withoutTagging(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.URL.Query()["tagging"]; ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotImplemented)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>object tags are not supported by the embedded store</Message></Error>`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// replacingMetadata makes a put replace the object's user metadata, as S3
// does. The bolt backend keeps the old object's keys that the new one does
// not set, so a replaced file would keep its predecessor's SHA-256; a kept
// key is blanked instead.
// It also stamps each put with one time (see putClock).
type replacingMetadata struct {
	gofakes3.Backend
	clock *putClock
}

func (b replacingMetadata) PutObject(bucket, key string, meta map[string]string, in io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	if old, err := b.HeadObject(bucket, key); err == nil {
		for k := range old.Metadata {
			if _, set := meta[k]; !set {
				meta[k] = ""
			}
		}
	}
	stamped := false
	defer func() {
		if stamped {
			b.clock.now.Store(0)
			b.clock.mu.Unlock()
		}
	}()
	body := &atEOF{r: in, then: func() { // the body is read: the backend stores the object next
		b.clock.mu.Lock()
		stamped = true
		now := time.Now()
		b.clock.now.Store(now.UnixNano())
		meta["Last-Modified"] = now.UTC().Format(http.TimeFormat)
	}}
	return b.Backend.PutObject(bucket, key, meta, body, size, cond)

}

// CopyObject copies through this wrapper, so a copy replaces the target's
// metadata as a put does (gofakes3's own copy calls the bolt backend's put).
func (b replacingMetadata) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return gofakes3.CopyObject(b, srcBucket, srcKey, dstBucket, dstKey, meta)
}

// putClock makes the two times of a put one. gofakes3 stamps the
// Last-Modified a HEAD shows when the request arrives, the bolt backend the
// one a listing shows once the body is read; a second boundary between them
// made a kept time (keptime matches a listed version by both) look like
// another version's. From the end of its body, a put holds mu and its time
// is both; at other times the clock is the wall clock.
type putClock struct {
	mu  sync.Mutex
	now atomic.Int64 // unix nanoseconds of the put holding mu; 0: none
}

func (c *putClock) Now() time.Time {
	if n := c.now.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Now()
}

func (c *putClock) Since(t time.Time) time.Duration { return time.Since(t) }

// atEOF calls then once, when r first reports its end.
type atEOF struct {
	r    io.Reader
	then func()
}

func (a *atEOF) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err == io.EOF && a.then != nil {
		a.then()
		a.then = nil
	}
	return n, err
}
