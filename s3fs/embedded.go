package s3fs

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
)

// Embedded is the in-process S3-compatible store for try-outs: objects live as
// files under a directory, and s3fs reaches them over loopback HTTP through
// the same S3 client path as a real store (signing, multipart, ranges). It
// checks no credentials and ignores encryption: not for PHI.
type Embedded struct {
	Endpoint string // http://127.0.0.1:PORT
	srv      *http.Server
	done     chan error
}

// StartEmbedded serves dir on a free loopback port and creates the buckets.
func StartEmbedded(dir string, buckets ...string) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store dir: %w", err)
	}
	backend, err := s3bolt.NewFile(filepath.Join(dir, "objects.bolt"))
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
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
	faker := gofakes3.New(boltStore{backend}, gofakes3.WithAutoBucket(false), gofakes3.WithTimeSkewLimit(0))
	e := &Embedded{
		Endpoint: "http://" + ln.Addr().String(),
		srv:      &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan error, 1),
	}
	go func() { e.done <- e.srv.Serve(ln) }()
	return e, nil
}

// Close stops the store after requests in flight finish or ctx expires.
func (e *Embedded) Close(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	if serveErr := <-e.done; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}

// boltStore is the bolt backend with a CopyObject that reads the source
// whole before writing: gofakes3's own reads the source's hash after the
// write, from bolt memory the write can remap (the process dies of SIGBUS or
// SIGSEGV). Objects in the embedded store are try-out sized.
type boltStore struct{ *s3bolt.Backend }

func (b boltStore) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	obj, err := b.GetObject(srcBucket, srcKey, nil)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	data, err := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	if err != nil {
		return gofakes3.CopyObjectResult{}, fmt.Errorf("read %s/%s: %w", srcBucket, srcKey, err)
	}
	if _, err := b.PutObject(dstBucket, dstKey, meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	sum := md5.Sum(data)
	return gofakes3.CopyObjectResult{ETag: `"` + hex.EncodeToString(sum[:]) + `"`, LastModified: gofakes3.NewContentTime(time.Now())}, nil
}
