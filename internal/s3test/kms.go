package s3test

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// StartKMS runs local-kms (an AWS KMS emulator speaking the real KMS API)
// on 127.0.0.1 through s3sftpd-kmsd, the loopback-only command in kmsd/
// that scripts/test builds, with an empty database in a temp dir, and
// returns its endpoint. Its region is Region.
func StartKMS(t testing.TB) string {
	t.Helper()
	bin := findBinary(t, "s3sftpd-kmsd", "scripts/test builds it (go build -C internal/s3test/kmsd -o $(go env GOPATH)/bin/s3sftpd-kmsd .)")
	port := freePort(t)
	cmd := exec.Command(bin, "-listen", "127.0.0.1:"+port, "-region", region(), "-data", filepath.Join(t.TempDir(), "kms"))
	startLogged(t, "kmsd", cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return "http://127.0.0.1:" + port
		}
		if time.Now().After(deadline) {
			t.Fatalf("local-kms did not start on port %s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// KMSClient is an SDK client of the local-kms at endpoint (it takes any
// credentials).
func KMSClient(endpoint string) *kms.Client {
	return kms.New(kms.Options{Region: region(), BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// NewKMSKey creates a key in local-kms and returns its ARN.
func NewKMSKey(t testing.TB, client *kms.Client) string {
	t.Helper()
	key, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("s3sftpd test")})
	if err != nil {
		t.Fatalf("create a KMS key: %v", err)
	}
	return aws.ToString(key.KeyMetadata.Arn)
}
