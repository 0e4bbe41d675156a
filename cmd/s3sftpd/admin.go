package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/metrics"
	"github.com/s3sftpd/s3sftpd/store"
)

// startAdmin serves /metrics, /healthz and /readyz on [admin] listen, if
// set. stop shuts the listener down.
func startAdmin(cfg *config.Config, m *metrics.Metrics, st *store.Store, current *atomic.Pointer[config.Config], log *slog.Logger) (stop func(), err error) {
	if cfg.Admin.Listen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen admin: %w", err)
	}
	srv := &http.Server{
		Handler:           metrics.AdminHandler(m, readiness(st, current), log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "err", err.Error())
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

// readyFor is how long a readiness answer is reused. /readyz needs no
// login, and a fresh answer costs one HeadBucket per bucket: without the
// reuse anyone who reaches the admin port makes S3 requests at will.
const readyFor = 3 * time.Second

// readiness: the config in force is loaded and every bucket it uses
// answers HeadBucket. The answer, ready or not, is reused for readyFor
// while the config stays the same; callers arriving during a check wait
// for its answer instead of sending their own.
func readiness(st *store.Store, current *atomic.Pointer[config.Config]) metrics.ReadyFunc {
	var (
		mu      sync.Mutex
		checked *config.Config // the config the answer is for
		at      time.Time
		answer  error
	)
	return func(ctx context.Context) error {
		cfg := current.Load()
		if cfg == nil {
			return errors.New("no config loaded")
		}
		mu.Lock()
		defer mu.Unlock()
		if cfg == checked && time.Since(at) < readyFor {
			return answer
		}
		err := headBuckets(ctx, st, cfg)
		if ctx.Err() == nil { // a caller that went away says nothing about S3
			checked, at, answer = cfg, time.Now(), err
		}
		return err
	}
}

func headBuckets(ctx context.Context, st *store.Store, cfg *config.Config) error {
	for _, b := range buckets(cfg) {
		if err := st.Ready(ctx, b); err != nil {
			return err
		}
	}
	return nil
}
