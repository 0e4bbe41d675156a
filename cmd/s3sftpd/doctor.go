package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/doctor"
	"github.com/s3sftpd/s3sftpd/s3fs"
)

// doctorCmd checks every bucket the config uses and prints the table; exit
// 1 on any FAIL, 2 when the config cannot be used.
func doctorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("doctor", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		printConfigErrors(stderr, err)
		return 2
	}
	rs, err := compliance(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintln(stderr, "s3sftpd doctor:", err)
		return 2
	}
	doctor.Write(stdout, rs)
	if doctor.Failed(rs) {
		return 1
	}
	return 0
}

// compliance runs the doctor's checks for cfg. client may be nil, in which
// case one is dialled from cfg.
func compliance(ctx context.Context, cfg *config.Config, client doctor.API) ([]doctor.Result, error) {
	rs := []doctor.Result{doctor.Endpoint(cfg.S3.Endpoint)}
	targets := complianceTargets(cfg)
	if cfg.S3.Endpoint == config.EndpointEmbedded {
		return append(rs, doctor.Embedded(targets)...), nil
	}
	if client == nil {
		c, err := s3fs.Dial(ctx, s3Config(cfg))
		if err != nil {
			return nil, err
		}
		client = c
	}
	return append(rs, doctor.Check(ctx, client, targets, doctor.Options{KMS: cfg.S3.SSE == s3fs.SSEKMS})...), nil
}

// complianceTargets lists every bucket of the config with the homes in it,
// the audit bucket marked.
func complianceTargets(cfg *config.Config) []doctor.Target {
	var ts []doctor.Target
	for _, b := range buckets(cfg) {
		t := doctor.Target{Bucket: b, Audit: b == cfg.Audit.S3Bucket}
		for _, u := range cfg.Users {
			if bucketOf(cfg, u) == b && !slices.Contains(t.Homes, u.Home) {
				t.Homes = append(t.Homes, u.Home)
			}
		}
		ts = append(ts, t)
	}
	return ts
}

// logCompliance logs each result at start-up: FAIL as error, UNKNOWN and
// WARN as warnings, PASS as info. It reports whether serve must refuse to
// start.
func logCompliance(log *slog.Logger, rs []doctor.Result, require bool) bool {
	for _, r := range rs {
		level := slog.LevelInfo
		switch r.Status {
		case doctor.Fail:
			level = slog.LevelError
		case doctor.Unknown, doctor.Warn:
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "compliance check", "bucket", r.Bucket, "control", r.Control,
			"status", string(r.Status), "why", r.Why, "fix", r.Fix)
	}
	return require && doctor.Failed(rs)
}

// checkCompliance runs the doctor at start-up and logs it; with
// require_compliant a FAIL stops the start.
func checkCompliance(ctx context.Context, cfg *config.Config, client doctor.API, log *slog.Logger) error {
	rs, err := compliance(ctx, cfg, client)
	if err != nil {
		return err
	}
	if logCompliance(log, rs, cfg.S3.RequireCompliant) {
		return fmt.Errorf("check buckets: a compliance check failed and s3.require_compliant is set (run s3sftpd doctor)")
	}
	return nil
}
