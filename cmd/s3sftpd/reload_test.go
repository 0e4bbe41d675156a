package main

import (
	"slices"
	"testing"

	"github.com/s3sftpd/s3sftpd/config"
)

// TestRestartNeeded_Events: the event sinks are started once, so a reload
// that changes [events] says a restart is needed.
func TestRestartNeeded_Events(t *testing.T) {
	old := &config.Config{}
	changed := &config.Config{Events: config.Events{Webhook: []config.Webhook{{URL: "https://hooks.example.org/x"}}}}
	if got := restartNeeded(old, changed); !slices.Contains(got, "[events]") {
		t.Errorf("got %v; want [events] among the parts needing a restart", got)
	}
	if got := restartNeeded(old, old); len(got) != 0 {
		t.Errorf("got %v for an unchanged config; want none", got)
	}
}
