package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/ops"
	"github.com/s3sftpd/s3sftpd/s3fs"
)

// startSweeper starts aborting the multipart uploads that crashed gateways
// left under the users' homes (see ops.Sweeper): once now, then every
// orphan_sweep_every. Each sweep takes the homes of the config in force, so
// a home added by a reload is swept too. The caller stops it with Stop
// before the FS goes away.
func startSweeper(ctx context.Context, current *atomic.Pointer[config.Config], fsys *s3fs.FS, log *slog.Logger) *ops.Sweeper {
	cfg := current.Load()
	age := cfg.S3.OrphanUploadAge.Duration
	if age < time.Hour {
		log.Warn("orphan_upload_age is below 1h: uploads other gateways are still writing may be aborted", "age", age.String())
	}
	return ops.StartSweeper(ctx, fsys, log, func() []ops.Prefix { return homes(current.Load()) }, age, cfg.S3.OrphanSweepEvery.Duration)
}

// homes lists every user's bucket and home once: the prefixes only s3sftpd
// writes to, so the only places where an upload in progress is surely its own.
// Several users may share a home; no home lies inside another (config checks).
func homes(cfg *config.Config) []ops.Prefix {
	seen := map[ops.Prefix]bool{}
	var out []ops.Prefix
	for _, u := range cfg.Users {
		p := ops.Prefix{Bucket: bucketOf(cfg, u), Prefix: u.Home}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
