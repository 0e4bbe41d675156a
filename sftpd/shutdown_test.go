package sftpd_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

// gate holds every upload write until release is closed or the session ends,
// so a test can keep a transfer in progress for as long as it needs.
type gate struct {
	started  chan struct{} // closed when the first write arrives
	release  chan struct{} // close to let writes through
	returned atomic.Bool   // a held write has returned
	once     sync.Once

	sessions chan context.Context // the ctx of each session, as given to Handlers
}

func newGate() *gate {
	return &gate{started: make(chan struct{}), release: make(chan struct{}), sessions: make(chan context.Context, 8)}
}

// handlers serves mem with uploads held by the gate.
func (g *gate) handlers(mem sftp.Handlers) func(context.Context, *auth.Tenant, *slog.Logger, *audit.Session) sftp.Handlers {
	return func(ctx context.Context, _ *auth.Tenant, _ *slog.Logger, _ *audit.Session) sftp.Handlers {
		g.sessions <- ctx
		h := mem
		h.FilePut = gatedPut{FileWriter: mem.FilePut, ctx: ctx, g: g}
		return h
	}
}

type gatedPut struct {
	sftp.FileWriter
	ctx context.Context
	g   *gate
}

func (p gatedPut) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	w, err := p.FileWriter.Filewrite(r)
	if err != nil {
		return nil, err
	}
	return gatedWriter{WriterAt: w, ctx: p.ctx, g: p.g}, nil
}

type gatedWriter struct {
	io.WriterAt
	ctx context.Context
	g   *gate
}

func (w gatedWriter) WriteAt(b []byte, off int64) (int, error) {
	defer w.g.returned.Store(true)
	w.g.once.Do(func() { close(w.g.started) })
	select {
	case <-w.g.release:
		return w.WriterAt.WriteAt(b, off)
	case <-w.ctx.Done(): // the handler contract: abort when the session ends
		return 0, context.Cause(w.ctx)
	}
}

// startUpload creates path and starts writing data to it; the write is held
// by g. It returns the session's ctx and the result of the write.
func startUpload(t *testing.T, c *sftp.Client, g *gate, path string, data []byte) (context.Context, *sftp.File, <-chan error) {
	t.Helper()
	var sessCtx context.Context
	select {
	case sessCtx = <-g.sessions:
	case <-time.After(5 * time.Second):
		t.Fatalf("Handlers was not called")
	}
	f, err := c.Create(path)
	if err != nil {
		t.Fatalf("Create %s: %v", path, err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := f.Write(data)
		wrote <- err
	}()
	select {
	case <-g.started:
	case <-time.After(5 * time.Second):
		t.Fatalf("upload write did not reach the handler")
	}
	return sessCtx, f, wrote
}

// shutdownAsync calls Shutdown(ctx) and delivers its result.
func shutdownAsync(ctx context.Context, srv *sftpd.Server) <-chan error {
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	return done
}

func TestShutdown_ClosesIdleConnections(t *testing.T) {
	k := keys(t)
	// A long login timeout: Shutdown must not wait for it.
	ts := startServer(t, func(s *sftpd.Server) { s.LoginTimeout = time.Minute })
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	c := sftpOn(t, sc)
	if _, err := c.Stat("/"); err != nil {
		t.Fatalf("Stat: %v", err)
	}
	// A connection that has not logged in yet.
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer raw.Close()
	br := bufio.NewReader(raw)
	if _, err := br.ReadString('\n'); err != nil { // the server has accepted it
		t.Fatalf("read server version: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v; want nil", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Shutdown with only idle connections took %v; want at once", elapsed)
	}
	if err, ok := ts.waitServe(2 * time.Second); !ok || !errors.Is(err, sftpd.ErrServerClosed) {
		t.Errorf("Serve = %v (returned %v); want ErrServerClosed", err, ok)
	}
	if !closedWithin(sc, time.Second) {
		t.Errorf("idle sftp connection still open after Shutdown")
	}
	if _, err := c.Stat("/"); err == nil {
		t.Errorf("Stat after Shutdown succeeded; want the session gone")
	}
	raw.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.Copy(io.Discard, br); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("connection in login still open after Shutdown")
		}
	}

	t.Run("new-connection-refused", func(t *testing.T) {
		if nc, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
			defer nc.Close()
			nc.SetReadDeadline(time.Now().Add(time.Second))
			if n, _ := nc.Read(make([]byte, 64)); n > 0 {
				t.Errorf("a new connection after Shutdown got a server greeting")
			}
		}
	})
	t.Run("serve-again", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		served := make(chan error, 1)
		go func() { served <- ts.srv.Serve(context.Background(), ln) }()
		select {
		case err := <-served:
			if !errors.Is(err, sftpd.ErrServerClosed) {
				t.Errorf("Serve after Shutdown = %v; want ErrServerClosed", err)
			}
		case <-time.After(2 * time.Second):
			ln.Close()
			t.Fatalf("Serve after Shutdown is serving; want it to return ErrServerClosed")
		}
		if nc, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
			nc.Close()
			t.Errorf("Serve after Shutdown left its listener open")
		}
	})
}

func TestShutdown_DrainsTransfers(t *testing.T) {
	k := keys(t)
	g := newGate()
	mem := sftp.InMemHandler()
	ts := startServer(t, func(s *sftpd.Server) { s.Handlers = g.handlers(mem) })
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	c := sftpOn(t, sc)
	data := make([]byte, 1000)
	rand.Read(data)
	sessCtx, f, wrote := startUpload(t, c, g, "/upload.bin", data)

	shut := shutdownAsync(context.Background(), ts.srv)
	if err, ok := ts.waitServe(2 * time.Second); !ok || !errors.Is(err, sftpd.ErrServerClosed) {
		t.Fatalf("Serve = %v (returned %v); want ErrServerClosed once Shutdown started", err, ok)
	}

	select {
	case err := <-shut:
		t.Fatalf("Shutdown = %v while a transfer was in progress; want it to wait", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := sessCtx.Err(); err != nil {
		t.Fatalf("session ctx cancelled while its transfer was draining: %v", context.Cause(sessCtx))
	}
	close(g.release)
	if err := <-wrote; err != nil {
		t.Errorf("Write of the draining transfer: %v", err)
	}

	// The file is still open, so the session lives on, but it takes no new
	// transfers. (Checked only now: pkg/sftp answers requests in order, so
	// nothing is answered while a write is held.)
	if _, err := c.Stat("/upload.bin"); err != nil {
		t.Errorf("Stat while draining: %v", err)
	}
	for _, open := range []struct {
		name string
		fn   func() (*sftp.File, error)
	}{
		{"create", func() (*sftp.File, error) { return c.Create("/second.bin") }},
		{"open-read", func() (*sftp.File, error) { return c.Open("/upload.bin") }},
	} {
		f2, err := open.fn()
		if err == nil {
			f2.Close()
			t.Errorf("%s while draining succeeded; want refused", open.name)
		} else if !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("%s while draining = %v; want a shutting-down message", open.name, err)
		}
	}
	more := make([]byte, 500)
	rand.Read(more)
	if _, err := f.Write(more); err != nil {
		t.Errorf("second Write of the draining transfer: %v", err)
	}
	data = append(data, more...)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown = %v before the transfer was closed; want it to wait", err)
	default:
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close of the draining transfer: %v", err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown = %v; want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Shutdown did not return after the last transfer ended")
	}
	if !closedWithin(sc, time.Second) {
		t.Errorf("connection still open after Shutdown returned")
	}

	req := sftp.NewRequest("Get", "/upload.bin")
	req.Flags = 1 // SSH_FXF_READ
	rd, err := mem.FileGet.Fileread(req)
	if err != nil {
		t.Fatalf("read the upload from the handler: %v", err)
	}
	got := make([]byte, len(data)+1)
	n, _ := rd.ReadAt(got, 0)
	if !bytes.Equal(got[:n], data) {
		t.Errorf("drained upload holds %d bytes that differ from the %d written", n, len(data))
	}
}

func TestShutdown_DeadlineCutsTransfers(t *testing.T) {
	k := keys(t)
	g := newGate() // never released
	ts := startServer(t, func(s *sftpd.Server) { s.Handlers = g.handlers(sftp.InMemHandler()) })
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	c := sftpOn(t, sc)
	sessCtx, _, wrote := startUpload(t, c, g, "/stuck.bin", []byte("never committed"))

	const grace = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	start := time.Now()
	var err error
	select {
	case err = <-shutdownAsync(ctx, ts.srv):
	case <-time.After(5 * time.Second):
		t.Fatalf("Shutdown still running 5s after its ctx expired at %v", grace)
	}
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v; want context.DeadlineExceeded", err)
	}
	if elapsed < grace*8/10 {
		t.Errorf("Shutdown returned after %v; want it to wait for the transfer until ctx expires (%v)", elapsed, grace)
	}
	if sessCtx.Err() == nil {
		t.Errorf("session ctx not cancelled after the drain deadline")
	}
	if !g.returned.Load() {
		t.Errorf("Shutdown returned before the cut-off handler did")
	}
	select {
	case err := <-wrote:
		if err == nil {
			t.Errorf("Write of the cut-off transfer succeeded; want an error")
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Write of the cut-off transfer did not return")
	}
	if !closedWithin(sc, time.Second) {
		t.Errorf("connection still open after Shutdown returned")
	}
}

func TestShutdown_ClientLeavesWhileDraining(t *testing.T) {
	k := keys(t)
	g := newGate() // never released: only the client's departure ends the transfer
	ts := startServer(t, func(s *sftpd.Server) { s.Handlers = g.handlers(sftp.InMemHandler()) })
	sc := sshLogin(t, ts.addr, "ed", k.ed25519)
	c := sftpOn(t, sc)
	sessCtx, _, _ := startUpload(t, c, g, "/abandoned.bin", []byte("half"))

	shut := shutdownAsync(context.Background(), ts.srv)
	if _, ok := ts.waitServe(2 * time.Second); !ok {
		t.Fatalf("Serve did not return once Shutdown started")
	}
	sc.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown = %v; want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Shutdown still waiting for a transfer whose client has gone")
	}
	if sessCtx.Err() == nil {
		t.Errorf("session ctx not cancelled after the client left")
	}
}
