package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// tool finds a command the test needs; missing, it fails the test unless
// S3SFTPD_NO_SYSTEMD says it is absent on purpose (CI never sets it).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("S3SFTPD_NO_SYSTEMD") != "" {
			t.Skipf("%s not installed (S3SFTPD_NO_SYSTEMD set)", name)
		}
		t.Fatalf("%s not found: install the systemd package (scripts/test does as root)", name)
	}
	return p
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// buildBinary builds s3sftpd once, as the Dockerfile does (static, no cgo).
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "s3sftpd-deploy-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "s3sftpd")
		cmd := exec.Command("go", "build", "-o", built, "../cmd/s3sftpd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build s3sftpd with CGO_ENABLED=0: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

// unitFor writes the unit with ExecStart pointing at bin, which
// systemd-analyze verify requires to exist.
func unitFor(t *testing.T, bin string) string {
	t.Helper()
	unit, err := os.ReadFile("s3sftpd.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s3sftpd.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/s3sftpd", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	unit := unitFor(t, buildBinary(t))

	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for s3sftpd.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	// 0 is fully locked down, 10 is unprotected; systemd calls below 2 "OK".
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.0 {
		t.Errorf("exposure level %.1f; want at most 2.0\n%s", level, out)
	}
}

// TestSystemdUnit_Hardening names the settings the service relies on, so
// that none is dropped by accident.
func TestSystemdUnit_Hardening(t *testing.T) {
	unit, err := os.ReadFile("s3sftpd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"DynamicUser=yes", "User=s3sftpd", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
		"StateDirectory=s3sftpd", "LogsDirectory=s3sftpd", "PrivateTmp=yes", "PrivateDevices=yes",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "UMask=0077", "ExecReload=/bin/kill -HUP $MAINPID",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).Match(unit) {
			t.Errorf("s3sftpd.service lacks %q", line)
		}
	}
	// Writable paths are the state and log directories only.
	if regexp.MustCompile(`(?m)^(ReadWritePaths|ProtectSystem=(no|yes|full))`).Match(unit) {
		t.Errorf("s3sftpd.service opens more of the file system than its state and log directories")
	}
}

// TestDockerfile checks what can be checked without pulling images: a
// distroless base, a non-root user, and a static build that runs.
func TestDockerfile(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllSubmatch(df, -1)
	if len(from) == 0 || !strings.HasPrefix(string(from[len(from)-1][1]), "gcr.io/distroless/static") {
		t.Errorf("final stage is not distroless/static: %q", from)
	}
	users := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindAllSubmatch(df, -1)
	if len(users) == 0 || string(users[len(users)-1][1]) == "0" {
		t.Errorf("the image does not run as a numeric non-root user")
	}
	if !strings.Contains(string(df), "CGO_ENABLED=0") {
		t.Errorf("the binary is not built static (CGO_ENABLED=0), which distroless/static needs")
	}
	out, err := exec.Command(buildBinary(t), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "s3sftpd ") {
		t.Errorf("static build: version = %q, %v", out, err)
	}
}
