package main

import (
	"testing"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/memlimit"
)

// TestSessionBuffersAgree: config plans the room for sessions with the
// size memlimit counts for each.
func TestSessionBuffersAgree(t *testing.T) {
	if config.SessionBuffers != memlimit.SessionBuffers {
		t.Errorf("got config.SessionBuffers = %v, memlimit.SessionBuffers = %v; want them equal", config.SessionBuffers, memlimit.SessionBuffers)
	}
}
