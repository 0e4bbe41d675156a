package s3fs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/store"
)

// callPaths records, for every S3 call, the gateway's own source files on
// the calling goroutine's stack (tests' files left out): the files one
// request is followed through to reach S3.
type callPaths struct {
	store.Objects
	mu    sync.Mutex
	files map[string]bool
	calls []string
}

func (c *callPaths) record(call string) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(here)) // the module, above s3fs/
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
	for {
		f, more := frames.Next()
		if rel, err := filepath.Rel(root, f.File); err == nil && !strings.HasPrefix(rel, "..") && !strings.HasSuffix(rel, "_test.go") {
			c.files[filepath.ToSlash(rel)] = true
		}
		if !more {
			return
		}
	}
}

func (c *callPaths) Head(ctx context.Context, r store.HeadRequest) (store.Object, error) {
	c.record("Head")
	return c.Objects.Head(ctx, r)
}

func (c *callPaths) Put(ctx context.Context, r store.PutRequest) (store.Written, error) {
	c.record("Put")
	return c.Objects.Put(ctx, r)
}

func (c *callPaths) CreateMultipart(ctx context.Context, r store.CreateRequest) (store.Multipart, error) {
	c.record("CreateMultipart")
	return c.Objects.CreateMultipart(ctx, r)
}

func (c *callPaths) UploadPart(ctx context.Context, r store.PartRequest) (store.Part, error) {
	c.record("UploadPart")
	return c.Objects.UploadPart(ctx, r)
}

func (c *callPaths) Complete(ctx context.Context, r store.CompleteRequest) (store.Written, error) {
	c.record("Complete")
	return c.Objects.Complete(ctx, r)
}

// TestCallPath_OneUploadPassesThroughFewFiles: an upload, followed from the
// SFTP request to each S3 call it makes, passes through at most five of the
// gateway's files (the redesign's rule; before it, about thirteen), so one
// upload reads in a few places as a download does. pkg/sftp and the store's
// SDK calls below store.Objects are not counted; sftpd only hands the
// connection to pkg/sftp and is on no request's stack.
func TestCallPath_OneUploadPassesThroughFewFiles(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	for _, tc := range []struct {
		name string
		size int
		want []string // calls the upload must make, so the path is really walked
	}{
		{"small", 4 << 10, []string{"Put"}},
		{"multipart", 3*minPartSize + 1, []string{"CreateMultipart", "UploadPart", "Complete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &callPaths{Objects: e.obj, files: map[string]bool{}}
			e.through(rec)
			c := e.session(t, "callpath-"+tc.name+"/", auth.AllPerms)
			f, err := c.OpenFile("/file.dat", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(bytes.Repeat([]byte("x"), tc.size)); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			for _, call := range tc.want {
				if !slices.Contains(rec.calls, call) {
					t.Fatalf("upload made S3 calls %v; want %s among them", rec.calls, call)
				}
			}
			files := slices.Sorted(func(yield func(string) bool) {
				for f := range rec.files {
					if !yield(f) {
						return
					}
				}
			})
			t.Logf("%s upload: S3 calls %v through %v", tc.name, rec.calls, files)
			if len(files) > 5 {
				t.Errorf("a %s upload reaches S3 through %d files %v; want at most five", tc.name, len(files), files)
			}
		})
	}
}
