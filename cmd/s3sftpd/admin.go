package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/metrics"
)

// startAdmin serves /metrics, /healthz and /readyz on [admin] listen, if
// set. stop shuts the listener down.
func startAdmin(cfg *config.Config, m *metrics.Metrics, client *s3.Client, current *atomic.Pointer[config.Config], log *slog.Logger) (stop func(), err error) {
	if cfg.Admin.Listen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen admin: %w", err)
	}
	srv := &http.Server{
		Handler:           metrics.AdminHandler(m, readiness(client, current), log),
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

// readiness: the config in force is loaded and every bucket it uses
// answers HeadBucket.
func readiness(client *s3.Client, current *atomic.Pointer[config.Config]) metrics.ReadyFunc {
	return func(ctx context.Context) error {
		cfg := current.Load()
		if cfg == nil {
			return errors.New("no config loaded")
		}
		for _, b := range buckets(cfg) {
			if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b}); err != nil {
				return fmt.Errorf("head bucket %s: %w", b, err)
			}
		}
		return nil
	}
}
