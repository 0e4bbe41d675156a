package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/doctor"
	"github.com/s3sftpd/s3sftpd/store"
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
	rs = append(rs, doctor.Scanner(ctx, cfg.Scan.Clamd, time.Now())...) // not compliance's: clamd down must not stop serve
	doctor.Write(stdout, rs)
	if doctor.Failed(rs) {
		return 1
	}
	return 0
}

// compliance runs the doctor's checks for cfg. st may be nil, in which
// case one is dialled from cfg.
func compliance(ctx context.Context, cfg *config.Config, st *store.Store) ([]doctor.Result, error) {
	rs := []doctor.Result{doctor.Endpoint(cfg.S3.Endpoint)}
	targets := complianceTargets(cfg)
	if cfg.S3.Endpoint == config.EndpointEmbedded {
		rs = append(rs, doctor.AccountNotAWS("the embedded store"))
		return append(rs, doctor.Embedded(targets)...), nil
	}
	if st == nil {
		var err error
		if st, err = store.Dial(ctx, s3Config(cfg).Config); err != nil {
			return nil, err
		}
	}
	// The account check runs beside the bucket checks: where S3 Control is
	// unreachable (a private subnet with only an S3 gateway endpoint) it
	// waits out its timeout without delaying the start by as much.
	var account doctor.Result
	var accountErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		account, accountErr = accountCheck(ctx, cfg, st)
	}()
	buckets := doctor.Check(ctx, st.BucketConfig(), targets, doctor.Options{KMS: cfg.S3.SSE == store.SSEKMS})
	<-done
	if accountErr != nil {
		return nil, accountErr
	}
	return append(append(rs, account), doctor.WithAccount(buckets, account)...), nil
}

// accountCheck is the account-level public access block row: read from
// AWS when the store is AWS, UNKNOWN without a request otherwise.
func accountCheck(ctx context.Context, cfg *config.Config, st *store.Store) (doctor.Result, error) {
	if !doctor.IsAWS(cfg.S3.Endpoint) {
		return doctor.AccountNotAWS(cfg.S3.Endpoint), nil
	}
	account, err := st.Account(ctx)
	if err != nil {
		return doctor.Result{}, err
	}
	return doctor.CheckAccount(ctx, account, account, doctor.Options{}), nil
}

// complianceTargets lists every bucket of the config with the homes in it,
// the audit bucket marked.
func complianceTargets(cfg *config.Config) []doctor.Target {
	var ts []doctor.Target
	for _, b := range buckets(cfg) {
		t := doctor.Target{Bucket: b, Audit: b == cfg.Audit.S3Bucket}
		for _, u := range cfg.Users {
			for _, m := range u.Tree {
				if m.Bucket == b && !slices.Contains(t.Homes, m.Prefix) {
					t.Homes = append(t.Homes, m.Prefix)
					if r := m.Lifecycle.Retention; r > 0 {
						t.Retentions = append(t.Retentions, doctor.Retention{Prefix: m.Prefix, Retention: r})
					}
				}
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
func checkCompliance(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) error {
	rs, err := compliance(ctx, cfg, st)
	if err != nil {
		return err
	}
	if logCompliance(log, rs, cfg.S3.RequireCompliant) {
		return fmt.Errorf("check buckets: a compliance check failed and s3.require_compliant is set (run s3sftpd doctor)")
	}
	return nil
}
