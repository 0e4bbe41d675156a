package report

import (
	"errors"
	"fmt"
	"os"

	"github.com/s3sftpd/s3sftpd/audit"
)

// ReadOptions reads the anchors of a trail's files for audit.Verify (audit
// verify and audit report take the same flags): the HMAC key in
// keyFile ("" = MACs not checked), the checkpoint cpFile (required when
// given) and FILE.checkpoint beside each of files (when there is one).
func ReadOptions(keyFile, cpFile string, files []string) (audit.VerifyOptions, error) {
	var opts audit.VerifyOptions
	if keyFile != "" {
		key, err := os.ReadFile(keyFile)
		if err != nil {
			return opts, fmt.Errorf("read HMAC key: %w", err)
		}
		if len(key) == 0 {
			return opts, fmt.Errorf("read HMAC key: %s is empty", keyFile)
		}
		opts.HMACKey = key
	}
	seen := map[string]bool{}
	addCheckpoint := func(path string, required bool) error {
		if seen[path] {
			return nil
		}
		line, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && !required {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		seen[path] = true
		opts.Checkpoints = append(opts.Checkpoints, audit.Checkpoint{Name: path, Line: line})
		return nil
	}
	if cpFile != "" {
		if err := addCheckpoint(cpFile, true); err != nil {
			return opts, err
		}
	}
	for _, name := range files {
		if err := addCheckpoint(name+".checkpoint", false); err != nil {
			return opts, err
		}
	}
	return opts, nil
}
