package s3fs

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/store"
)

// testLog discards logs unless S3SFTPD_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("S3SFTPD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is one real S3 server and an FS on it.
type env struct {
	s3  *s3test.Server
	fs  *FS
	api s3API         // the SDK's client, to see what S3 really holds
	obj store.Objects // the object API the FS was built over, for wrappers to wrap
	cfg Config
}

// s3API is the SDK-typed client of a store (store.S3): tests read what S3
// holds through it, and some wrap it to change requests the object API
// sends (objectsOver).
type s3API = store.S3

// objectsOver is the object API over client with cfg's encryption and
// checksum mode, as store.Dial builds it.
func objectsOver(client s3API, cfg Config) store.Objects { return store.NewObjects(client, cfg.Config) }

// through makes the FS call S3 through objects (a test's wrapper).
func (e *env) through(objects store.Objects) {
	e.fs.obj = e.fs.times.Over(objects)
}

func newEnv(t *testing.T, checksums string) *env {
	t.Helper()
	srv := s3test.Start(t)
	return envOn(t, srv, testConfig(srv, checksums))
}

// envOn is an FS reaching srv as cfg says (through a proxy, say); e.s3 still
// reaches srv directly, to see what it really holds.
func envOn(t *testing.T, srv *s3test.Server, cfg Config) *env {
	t.Helper()
	client, err := dialStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	obj := objectsOver(client, cfg)
	fsys, err := New(obj, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	return &env{s3: srv, fs: fsys, api: client, obj: obj, cfg: cfg}
}

// session serves the handlers of one tenant to a pkg/sftp client over an
// in-process pipe, the way sftpd serves them over SSH.
func (e *env) session(t *testing.T, prefix string, perms auth.Perms) *sftp.Client {
	t.Helper()
	return e.auditedSession(t, prefix, perms, nil)
}

// auditedSession is session with its file operations recorded to a.
func (e *env) auditedSession(t *testing.T, prefix string, perms auth.Perms, a *audit.Session) *sftp.Client {
	t.Helper()
	return e.loggedSession(t, prefix, perms, a, testLog())
}

// loggedSession is auditedSession with the session's log lines sent to log.
func (e *env) loggedSession(t *testing.T, prefix string, perms auth.Perms, a *audit.Session, log *slog.Logger) *sftp.Client {
	t.Helper()
	return e.tenantSession(t, &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: prefix, Perms: perms}, a, log)
}

// tenantSession is a session of tenant.
func (e *env) tenantSession(t *testing.T, tenant *auth.Tenant, a *audit.Session, log *slog.Logger) *sftp.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	serverConn, clientConn := net.Pipe()
	rs := sftp.NewRequestServer(serverConn, e.fs.Handlers(ctx, tenant, log, a), sftp.WithStartDirectory("/"))
	done := make(chan struct{})
	go func() { rs.Serve(); close(done) }()
	c, err := sftp.NewClientPipe(clientConn, clientConn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		clientConn.Close()
		<-done
		cancel()
	})
	return c
}

// testConfig reaches srv with small parts, so multipart paths run on small files.
func testConfig(srv *s3test.Server, checksums string) Config {
	return Config{
		Config: store.Config{
			Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
			SSE: SSEAES256, Checksums: checksums,
		},
		PartSize: minPartSize, UploadMemory: 64 << 20,
	}
}

// dialStore is the S3 client of the store cfg reaches, dialled as cmd
// dials it.
func dialStore(ctx context.Context, cfg Config) (store.S3, error) {
	st, err := store.Dial(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	return st.S3(), nil
}
