//go:build events_sns

// This test needs the [[events.sns]] config table of issue 20 part A; it is
// built only with -tags events_sns until both parts are merged, when the
// constraint above goes.

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
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
