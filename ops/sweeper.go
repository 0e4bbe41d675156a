package ops

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/s3fs"
)

// Sweeper runs a Sweep over fs once at start and then periodically, in a
// goroutine it owns. Stop it with Stop.
type Sweeper struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartSweeper sweeps the prefixes that prefixes returns (called before
// every sweep, so a config reload can change them) for uploads older than
// age: once now, then every interval; interval 0 sweeps only once. Each
// sweep that aborts something logs to log, per prefix, the bucket, the count
// and the upload ids, never the keys (file names may be PHI). Failures are
// logged and retried at the next sweep. The goroutine ends when ctx ends or
// Stop is called.
func StartSweeper(ctx context.Context, fs *s3fs.FS, log *slog.Logger, prefixes func() []Prefix, age, interval time.Duration) *Sweeper {
	ctx, cancel := context.WithCancel(ctx)
	s := &Sweeper{cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var tick <-chan time.Time
		if interval > 0 {
			t := time.NewTicker(interval)
			defer t.Stop()
			tick = t.C
		}
		for {
			sweepAndLog(ctx, fs, log, prefixes(), age)
			if tick == nil {
				return
			}
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

// Stop ends the sweeper, cancelling a sweep in progress, and waits for it.
func (s *Sweeper) Stop() {
	s.cancel()
	s.wg.Wait()
}

func sweepAndLog(ctx context.Context, fs *s3fs.FS, log *slog.Logger, prefixes []Prefix, age time.Duration) {
	results, err := Sweep{FS: fs}.Run(ctx, prefixes, age)
	total := 0
	for _, r := range results {
		if len(r.Aborted) == 0 {
			continue
		}
		total += len(r.Aborted)
		log.LogAttrs(ctx, slog.LevelInfo, "orphaned uploads aborted", slog.String("bucket", r.Bucket),
			slog.Int("count", len(r.Aborted)), slog.Any("upload_ids", r.Aborted))
	}
	if err != nil && ctx.Err() == nil {
		log.LogAttrs(ctx, slog.LevelError, "orphan sweep failed", slog.String("err", fs.Cause(err)))
	}
	level := slog.LevelDebug // an hourly sweep that found nothing is not news
	if total > 0 {
		level = slog.LevelInfo
	}
	log.LogAttrs(ctx, level, "orphan sweep done", slog.Int("prefixes", len(prefixes)),
		slog.Int("aborted", total), slog.String("age", age.String()))
}
