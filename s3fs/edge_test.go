package s3fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/s3fs/keptime"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// TestEdge_Net: what the code below made for partners goes out as it is;
// any other error is replaced by a plain failure, with its cause logged.
func TestEdge_Net(t *testing.T) {
	var logged bytes.Buffer
	h := &handlers{ctx: context.Background(), log: slog.New(slog.NewTextHandler(&logged, nil))}
	e := h.edge()
	raw := errors.New(`operation error S3: GetObject, https response error StatusCode: 500, RequestID: 1, api error InternalError: bucket phi-bucket key partners/acme/x.csv`)
	pathErr := &vfs.PathError{Reason: "name contains a backslash"}
	tests := []struct {
		err     error
		want    string // the partner's text; "" for nil
		wantEOF bool
	}{
		{nil, "", false},
		{io.EOF, "", true},
		{boundary.ErrNoSuchFile, "No such file", false},
		{boundary.Denied("upload refused: uploading is not permitted for this user"), "upload refused: uploading is not permitted for this user", false},
		{pathErr, "invalid path: name contains a backslash", false},
		{raw, "download failed: the server met an unexpected error", false},
	}
	for _, tt := range tests {
		got := e.Net("download", "/x.csv", tt.err)
		switch {
		case tt.err == nil && got != nil, tt.wantEOF && got != io.EOF:
			t.Errorf("net(%v) = %v; want it passed as it is", tt.err, got)
		case tt.want != "" && (got == nil || got.Error() != tt.want):
			t.Errorf("net(%v) = %v; want %q", tt.err, got, tt.want)
		}
		var se *boundary.Error
		if tt.want != "" && !errors.As(got, &se) {
			t.Errorf("net(%v) = %T; want a *boundary.Error, which carries an SFTP status", tt.err, got)
		}
	}
	if !strings.Contains(logged.String(), "InternalError") {
		t.Errorf("log = %q; want the cause of the unexpected error", logged.String())
	}
	if _, reason, _ := boundary.Outcome(pathErr); reason != boundary.RefusedJail {
		t.Errorf("a refused path is recorded with reason %q; want %q", reason, boundary.RefusedJail)
	}
}

// TestEdge_NoStorageTextReachesThePartner: with the store unreachable,
// every request a client makes fails with plain words; none carries the
// SDK's text, the bucket, the prefix or the store's address.
func TestEdge_NoStorageTextReachesThePartner(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	cfg := Config{Config: store.Config{Endpoint: "http://" + dead, Region: "us-east-1", PathStyle: true,
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SSE: SSEAES256, Checksums: ChecksumsCompat, MaxAttempts: 1},
		PartSize: minPartSize, UploadMemory: 64 << 20}
	client, err := dialStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := New(objectsOver(client, cfg), cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{fs: fsys, api: client, obj: fsys.obj.(keptime.Indexing).Objects, cfg: cfg}
	c := e.tenantSession(t, &auth.Tenant{User: "tester", Bucket: "phi-bucket-7", Prefix: "partners/acme/", Perms: 0xff}, nil, testLog())

	ops := map[string]func() error{
		"stat":   func() error { _, err := c.Stat("/in/a.csv"); return err },
		"ls":     func() error { _, err := c.ReadDir("/in"); return err },
		"get":    func() error { _, err := c.Open("/in/a.csv"); return err },
		"put":    func() error { return writeFile(t, c, "/in/b.csv", []byte("phi")) },
		"mkdir":  func() error { return c.Mkdir("/in/new") },
		"rename": func() error { return c.Rename("/in/a.csv", "/in/c.csv") },
		"rm":     func() error { return c.Remove("/in/a.csv") },
		"rmdir":  func() error { return c.RemoveDirectory("/in") },
		"touch":  func() error { return c.Chtimes("/in/a.csv", time.Now(), time.Now()) },
	}
	for name, op := range ops {
		err := op()
		if err == nil {
			t.Errorf("%s with the store unreachable succeeded; want it to fail", name)
			continue
		}
		var se *sftp.StatusError
		if !errors.As(err, &se) && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v (%T); want an SFTP status", name, err, err)
		}
		for _, leak := range []string{"phi-bucket-7", "partners/acme", dead, "operation error", "dial tcp", "127.0.0.1"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%s: the partner saw %q, which names %q", name, err, leak)
			}
		}
	}
}
