// Package s3test starts a real S3-compatible server (versitygw, POSIX backend)
// on 127.0.0.1 for tests, or points them at the server named by
// S3SFTPD_TEST_ENDPOINT. It never fakes S3.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Server is a running S3 endpoint with root credentials.
type Server struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string // a fresh bucket for this test
	Root      string // versitygw's data directory (empty for an external endpoint)

	cmd      *exec.Cmd
	port     string
	versions string // versitygw's versioning directory; "" keeps no versions
}

// Start runs versitygw on a free loopback port with a fresh root directory and
// one bucket, and stops it when the test ends. With S3SFTPD_TEST_ENDPOINT set
// it uses that server instead (credentials from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY) with a new bucket; S3SFTPD_TEST_EMBEDDED names the
// embedded store's endpoint the same way (set by s3fs's TestMain).
func Start(t testing.TB) *Server {
	t.Helper()
	if ep := os.Getenv("S3SFTPD_TEST_ENDPOINT"); ep != "" {
		return External(t, ep, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"))
	}
	if ep := os.Getenv("S3SFTPD_TEST_EMBEDDED"); ep != "" {
		return External(t, ep, "embedded", "embedded")
	}
	bin := Binary(t)
	s := &Server{AccessKey: "s3test-" + randHex(4), SecretKey: randHex(16), Region: "us-east-1", Root: t.TempDir()}
	s.start(t, bin)
	t.Cleanup(s.Stop)
	s.Bucket = s.createBucket(t)
	return s
}

// StartVersioned is Start with versioning enabled on the bucket. It runs
// versitygw (with a versioning directory) even when S3SFTPD_TEST_EMBEDDED
// is set, since the embedded store keeps no versions.
func StartVersioned(t testing.TB) *Server {
	t.Helper()
	var s *Server
	if ep := os.Getenv("S3SFTPD_TEST_ENDPOINT"); ep != "" {
		s = External(t, ep, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"))
	} else {
		s = &Server{AccessKey: "s3test-" + randHex(4), SecretKey: randHex(16), Region: "us-east-1", Root: t.TempDir(),
			versions: t.TempDir()}
		s.start(t, Binary(t))
		t.Cleanup(s.Stop)
		s.Bucket = s.createBucket(t)
	}
	_, err := s.Client(t).PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{Bucket: &s.Bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	if err != nil {
		t.Fatalf("enable versioning on %s: %v", s.Bucket, err)
	}
	return s
}

// External uses an S3 server that is already running, with a fresh bucket.
func External(t testing.TB, endpoint, accessKey, secretKey string) *Server {
	t.Helper()
	s := &Server{Endpoint: endpoint, AccessKey: accessKey, SecretKey: secretKey, Region: region()}
	s.Bucket = s.createBucket(t)
	return s
}

// Binary finds the versitygw executable or fails the test saying how to install it.
func Binary(t testing.TB) string {
	t.Helper()
	return findBinary(t, "versitygw", "install it with `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` (scripts/test does this)")
}

// findBinary looks for name in PATH, then in $(go env GOPATH)/bin, where
// scripts/test installs it; a missing binary fails the test with how to get it.
func findBinary(t testing.TB, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Fatalf("%s not found: %s", name, install)
	return ""
}

// startLogged starts cmd with its output in a log file of the test, killed
// if the test process dies; it returns the log's path.
func startLogged(t testing.TB, name string, cmd *exec.Cmd) string {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return logf.Name()
}

func (s *Server) start(t testing.TB, bin string) {
	t.Helper()
	if s.port == "" {
		s.port = freePort(t)
	}
	s.Endpoint = "http://127.0.0.1:" + s.port
	args := []string{"--port", "127.0.0.1:" + s.port, "--quiet", "posix"}
	if s.versions != "" {
		args = append(args, "--versioning-dir", s.versions)
	}
	cmd := exec.Command(bin, append(args, s.Root)...)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	logPath := startLogged(t, "versitygw", cmd)
	s.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("versitygw did not start on %s:\n%s", s.Endpoint, log)
}

// Stop kills the server (a crash, as far as clients can tell). Safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a stopped server again on the same port and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.start(t, Binary(t))
}

// Client is a plain SDK client, for tests to look at what really is in the bucket.
func (s *Server) Client(t testing.TB) *s3.Client {
	t.Helper()
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(s.Endpoint),
		Region:                     s.Region,
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Keys lists every key in the test bucket under prefix.
func (s *Server) Keys(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.Client(t), &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// Get returns an object's content, or ok=false when it does not exist.
func (s *Server) Get(t testing.TB, key string) (data []byte, ok bool) {
	t.Helper()
	out, err := s.Client(t).GetObject(context.Background(), &s3.GetObjectInput{Bucket: &s.Bucket, Key: &key})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchKey") || strings.Contains(err.Error(), "404") {
			return nil, false
		}
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b, true
}

// Put stores an object directly, bypassing the gateway.
func (s *Server) Put(t testing.TB, key string, data []byte) {
	t.Helper()
	_, err := s.Client(t).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &s.Bucket, Key: &key, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// MultipartUploads lists uploads started and not completed or aborted.
func (s *Server) MultipartUploads(t testing.TB) []string {
	t.Helper()
	out, err := s.Client(t).ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &s.Bucket})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchUpload") { // gofakes3's answer when there are none
			return nil
		}
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// InOtherBucket is s with a fresh bucket of its own on the same server
// (Keys, Get and Put then reach that bucket), for a test of places in two
// buckets. Stop and Restart of either stop or restart the one server.
func (s *Server) InOtherBucket(t testing.TB) *Server {
	t.Helper()
	o := *s
	o.Bucket = s.createBucket(t)
	return &o
}

func (s *Server) createBucket(t testing.TB) string {
	t.Helper()
	name := "s3test-" + randHex(6)
	_, err := s.Client(t).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name})
	if err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

func region() string {
	if r := os.Getenv("AWS_REGION"); r != "" {
		return r
	}
	return "us-east-1"
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
