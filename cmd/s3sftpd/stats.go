package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// logStats writes one line of process figures on every SIGUSR1 until ctx
// ends: what an operator (or bench/soak.sh) checks for leaks under load.
func logStats(ctx context.Context, log *slog.Logger) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-usr1:
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fds, _ := os.ReadDir("/proc/self/fd")
			log.Info("stats", "goroutines", runtime.NumGoroutine(), "heap_mib", m.HeapAlloc>>20,
				"sys_mib", m.Sys>>20, "open_fds", len(fds))
		}
	}
}
