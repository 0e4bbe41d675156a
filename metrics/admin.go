package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// ReadyFunc reports why the gateway cannot serve now, or nil when it can.
type ReadyFunc func(ctx context.Context) error

// AdminHandler serves /metrics, /healthz (the process answers) and
// /readyz (ready says the config is loaded and S3 answers). A failing
// readiness is logged with its cause; the HTTP answer names no bucket.
func AdminHandler(m *Metrics, ready ReadyFunc, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			log.Warn("not ready", "err", err.Error())
			http.Error(w, "not ready: see the server log", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
