package upload

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/store"
)

// testConfig is the uploads' settings over a real S3 server, with the
// smallest parts, and a session of a user with share bytes of the memory.
func testConfig(t *testing.T, share int64) (*Config, *testSession) {
	t.Helper()
	srv := s3test.Start(t)
	st, err := store.Dial(t.Context(), store.Config{
		Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, SSE: "AES256", Checksums: "compat",
	})
	if err != nil {
		t.Fatal(err)
	}
	var live sync.Map
	return &Config{
		Store: st.Objects(), Budget: NewBudget(64 << 20), PartSize: MinPartSize, Wait: time.Minute,
		Pending: &Table{},
		Track: func(id string) func() {
			live.Store(id, true)
			return func() { live.Delete(id) }
		},
		InFlight: func(id string) bool { _, ok := live.Load(id); return ok },
	}, &testSession{share: share, bucket: srv.Bucket}
}

// testSession is a session that sees everything and records nothing: the
// seam s3fs's handlers fill in production.
type testSession struct {
	share  int64
	bucket string
}

func (s *testSession) Context() context.Context                         { return context.Background() }
func (s *testSession) Logger() *slog.Logger                             { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (s *testSession) User() string                                     { return "tester" }
func (s *testSession) Share() int64                                     { return s.share }
func (s *testSession) Bucket() string                                   { return s.bucket }
func (s *testSession) Name(p string) string                             { return p }
func (s *testSession) Cause(err error, _ ...string) string              { return err.Error() }
func (s *testSession) CanSee() bool                                     { return true }
func (s *testSession) AuditReady() error                                { return nil }
func (s *testSession) Record(audit.Record, error) error                 { return nil }
func (s *testSession) Forget(string, *Upload)                           {}
func (s *testSession) Remember(string, int64)                           {}
func (s *testSession) KeepMtime(string, time.Time) error                { return nil }
func (s *testSession) HoldMtime(string, time.Time) bool                 { return false }
func (s *testSession) Failed(_, _ string, err error, _ ...string) error { return err }

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
