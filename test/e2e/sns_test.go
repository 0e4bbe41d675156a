package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/internal/snstest"
)

// TestEvents_SNSUpload: an OpenSSH upload reaches an SNS topic's queue as an
// upload event with the file's SHA-256.
func TestEvents_SNSUpload(t *testing.T) {
	topic := snstest.Start(t)
	g := startGateway(t, s3test.Start(t), gatewayOpts{extra: topic.SinkTOML("upload")})
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "results.csv"), 100<<10)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put results.csv\n")
	ev := topic.AwaitEvent(t, time.Minute, "upload", "/results.csv")
	if sum := sha256.Sum256(data); ev["sha256"] != hex.EncodeToString(sum[:]) || ev["user"] != "acme" {
		t.Errorf("upload event = %v; want user acme and sha256 %x", ev, sum)
	}
}

// TestEvents_SNSDownThenUp: an upload while SNS is down is published once it
// is back, and the failures logged meanwhile hold nothing of the event.
func TestEvents_SNSDownThenUp(t *testing.T) {
	topic := snstest.Start(t)
	g := startGateway(t, s3test.Start(t), gatewayOpts{extra: topic.SinkTOML()})
	topic.Stop()
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "late.csv"), 10<<10)
	g.mustSFTP(t, dir, "acme", clientKeys["ed25519"], "put late.csv\n")
	for deadline := time.Now().Add(time.Minute); !strings.Contains(g.logs.String(), "sink failing"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway logged no failing SNS sink within a minute while goaws was down")
		}
	}
	topic.Restart(t)
	ev := topic.AwaitEvent(t, time.Minute, "upload", "/late.csv")
	sum := sha256.Sum256(data)
	if ev["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("upload event = %v; want sha256 %x", ev, sum)
	}
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(line, "sns:") && (strings.Contains(line, hex.EncodeToString(sum[:])) || strings.Contains(line, "late.csv")) {
			t.Errorf("the SNS sink's log line holds the event (its sha256 or path): %s", line)
		}
	}
}
