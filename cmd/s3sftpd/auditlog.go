package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/ops"
	"github.com/s3sftpd/s3sftpd/store"
)

// openAudit starts the audit trail the config describes; closed segments
// of the file go to audit.s3_bucket through st, with its server-side encryption. The trail is part of
// serving: if it cannot be opened, the server does not start.
// observe sees every record (the metrics).
func openAudit(cfg *config.Config, st *store.Store, log *slog.Logger, observe func(audit.Record)) (*audit.Log, error) {
	a := cfg.Audit
	ac := audit.Config{
		File:      a.File,
		HMACKey:   a.HMACKey,
		HashPaths: a.Paths == config.AuditPathsHMAC,
		FailOpen:  a.OnFailure == config.AuditContinue,
		Logger:    log,
		Observe:   observe,
	}
	if a.File != "" {
		ac.RotateSize = int64(a.RotateSize)
		ac.RotateEvery = a.RotateEvery.Duration
		ac.CheckpointEvery = a.CheckpointEvery.Duration
	}
	if a.S3Bucket != "" {
		ac.Ship = ops.NewAuditShipper(st, a.S3Bucket, a.S3Prefix)
	}
	if a.Stdout {
		ac.Stdout = os.Stdout
	}
	if a.File == "" && !a.Stdout {
		log.Warn("audit trail is off: set [audit] file or stdout")
	}
	l, err := audit.Open(ac)
	if err != nil {
		return nil, fmt.Errorf("open audit trail: %w", err)
	}
	return l, nil
}

// configHash is the SHA-256 of the config file, so the audit trail shows
// which configuration was in force.
func configHash(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
