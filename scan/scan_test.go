package scan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/clamdtest"
	"github.com/s3sftpd/s3sftpd/scan"
)

func client(t *testing.T, d *clamdtest.Clamd) *scan.Client {
	t.Helper()
	c, err := scan.New(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stream writes size bytes of pseudo-random data through s in writes of
// 255 KiB (OpenSSH's), from one reused buffer as the upload's parts are.
func stream(t *testing.T, s *scan.Scan, size int64, seed uint64, end bool) {
	t.Helper()
	buf := make([]byte, 255<<10)
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	for off := int64(0); off < size; {
		n := int(min(int64(len(buf)), size-off))
		rng.Read(buf[:n])
		off += int64(n)
		out, err := s.Write(buf[:n], end && off == size)
		if err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
		if &out[0] != &buf[0] || len(out) != n {
			t.Fatalf("write at %d passed on other bytes than it got", off)
		}
	}
}

func TestScan_RefusesEICARWithItsSignature(t *testing.T) {
	c := client(t, clamdtest.Start(t))
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"eicar", []byte(clamdtest.EICAR)},
		{"eicar-split-across-writes", []byte(clamdtest.EICAR)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.NewScan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "eicar-split-across-writes" {
				s.Write(tc.file[:10], false)
				s.Write(tc.file[10:], true)
			} else {
				s.Write(tc.file, true)
			}
			err = s.Finish()
			var infected *scan.InfectedError
			if !errors.As(err, &infected) || infected.Signature != clamdtest.EICARSignature {
				t.Fatalf("Finish = %v; want InfectedError{%s}", err, clamdtest.EICARSignature)
			}
			if want := "upload refused: the file contains malware (" + clamdtest.EICARSignature + ")"; err.Error() != want {
				t.Errorf("message = %q; want %q", err, want)
			}
		})
	}
}

// TestScan_AcceptsA100MiBCleanFileInBoundedMemory: a clean file passes, and
// streaming it allocates a few MiB in all, not the file.
func TestScan_AcceptsA100MiBCleanFileInBoundedMemory(t *testing.T) {
	c := client(t, clamdtest.Start(t))
	s, err := c.NewScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const size = 100 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stream(t, s, size, 1, true)
	if err := s.Finish(); err != nil {
		t.Fatalf("Finish = %v; want nil (clean)", err)
	}
	runtime.ReadMemStats(&after)
	if err := s.Finish(); err != nil {
		t.Errorf("Finish again = %v; want the same clean verdict", err)
	}
	s.Abort()
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("streaming %d MiB allocated %d MiB; want a bounded buffer (≤ 16 MiB)", size>>20, alloc>>20)
	}
	if s.Size() != size {
		t.Errorf("Size = %d; want %d", s.Size(), size)
	}
}

// TestScan_ClamdStoppedMidStreamIsUnavailable: no verdict is no verdict,
// never a clean one, and the writes after the stop do not hang.
func TestScan_ClamdStoppedMidStreamIsUnavailable(t *testing.T) {
	d := clamdtest.Start(t)
	c := client(t, d)
	c.Timeout = 5 * time.Second
	s, err := c.NewScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stream(t, s, 8<<20, 2, false)
	d.Stop()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for i := range 32 {
			if _, err := s.Write(buf, i == 31); err != nil {
				done <- err
				return
			}
		}
		done <- s.Finish()
	}()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the upload hung after clamd stopped")
	}
	var unavailable *scan.UnavailableError
	if !errors.As(err, &unavailable) {
		t.Fatalf("Finish = %v; want UnavailableError", err)
	}
}

// TestScan_StuckClamdIsUnavailable: a clamd that stops taking the stream
// holds the upload for at most Timeout once the buffer is full, then it is
// unavailable (never a clean verdict); and the upload's writes up to the
// buffer do not wait for it at all.
func TestScan_StuckClamdIsUnavailable(t *testing.T) {
	d := clamdtest.Start(t)
	c := client(t, d)
	c.Timeout = 2 * time.Second
	s, err := c.NewScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d.Pause(t)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for i := range 64 {
			if _, err := s.Write(buf, i == 63); err != nil {
				done <- err
				return
			}
		}
		done <- s.Finish()
	}()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the upload hung on a stuck clamd")
	}
	var unavailable *scan.UnavailableError
	if !errors.As(err, &unavailable) {
		t.Fatalf("Finish = %v; want UnavailableError", err)
	}
	d.Resume(t)
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("clamd after the stuck stream: %v", err)
	}
}

// The stages are upload stages (s3fs/upload's Stage, by its methods).
var _ interface {
	Write(p []byte, last bool) ([]byte, error)
	Finish() error
	Abort()
} = (*scan.Scan)(nil)

func TestScan_RefusesAFileOverMaxSize(t *testing.T) {
	c := client(t, clamdtest.Start(t))
	c.MaxSize = 1 << 20
	s, err := c.NewScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(make([]byte, 1<<20), false); err != nil {
		t.Fatalf("write up to MaxSize: %v", err)
	}
	_, err = s.Write([]byte{0}, true)
	var tooLarge *scan.TooLargeError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("write past MaxSize = %v; want TooLargeError", err)
	}
	if want := "upload refused: files larger than 1 MiB cannot be scanned for malware here"; err.Error() != want {
		t.Errorf("message = %q; want %q", err, want)
	}
	if err := s.Finish(); !errors.As(err, &tooLarge) {
		t.Errorf("Finish = %v; want TooLargeError", err)
	}
}

// TestScan_ClamdStreamLimitIsTooLarge: a clamd whose StreamMaxLength is
// below max_size cuts the stream; that is no clean verdict.
func TestScan_ClamdStreamLimitIsTooLarge(t *testing.T) {
	c := client(t, clamdtest.Start(t, clamdtest.Options{StreamMaxLength: "1M"}))
	s, err := c.NewScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stream(t, s, 4<<20, 3, true)
	err = s.Finish()
	var tooLarge *scan.TooLargeError
	var unavailable *scan.UnavailableError
	if !errors.As(err, &tooLarge) && !errors.As(err, &unavailable) {
		t.Fatalf("Finish = %v; want TooLargeError (or UnavailableError if clamd's answer was lost)", err)
	}
}

// TestScan_FileOverClamdsScanLimitIsRefused: a file clamd does not scan
// whole (past its MaxScanSize) is not passed as clean.
func TestScan_FileOverClamdsScanLimitIsRefused(t *testing.T) {
	c := client(t, clamdtest.Start(t, clamdtest.Options{MaxScanSize: "1M"}))
	s, err := c.NewScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stream(t, s, 4<<20, 4, true)
	err = s.Finish()
	var limits *scan.LimitsError
	if !errors.As(err, &limits) || !strings.HasPrefix(err.Error(), "upload refused: ") {
		t.Fatalf("Finish = %v; want LimitsError", err)
	}
}

func TestScan_AbortEndsTheStream(t *testing.T) {
	c := client(t, clamdtest.Start(t))
	s, err := c.NewScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Write(bytes.Repeat([]byte("x"), 1<<20), false)
	s.Abort()
	s.Abort()
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("clamd after an aborted stream: %v", err)
	}
}

func TestClient_PingAndVersion(t *testing.T) {
	d := clamdtest.Start(t)
	c := client(t, d)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Database != clamdtest.DatabaseVersion || !v.Built.Equal(d.Built) || v.Engine == "" {
		t.Errorf("Version = %+v; want database %d built %v", v, clamdtest.DatabaseVersion, d.Built)
	}
	if !strings.HasPrefix(v.String(), "ClamAV ") || !strings.HasSuffix(v.String(), "/27000") {
		t.Errorf("Version.String = %q", v)
	}
	d.Stop()
	var unavailable *scan.UnavailableError
	if err := c.Ping(context.Background()); !errors.As(err, &unavailable) {
		t.Errorf("Ping of a stopped clamd = %v; want UnavailableError", err)
	}
	if _, err := c.NewScan(context.Background()); !errors.As(err, &unavailable) {
		t.Errorf("NewScan on a stopped clamd = %v; want UnavailableError", err)
	}
}

func TestNew_Addresses(t *testing.T) {
	for _, tc := range []struct {
		addr, wantErr string
	}{
		{"unix:/run/clamav/clamd.ctl", ""},
		{"tcp:127.0.0.1:3310", ""},
		{"tcp:[::1]:3310", ""},
		{"tcp:10.0.3.7:3310", ""},
		{"tcp:192.168.1.9:3310", ""},
		{"tcp:clamd.internal:3310", ""}, // checked when connecting
		{"tcp:8.8.8.8:3310", "public address"},
		{"tcp:[2001:4860::1]:3310", "public address"},
		{"tcp:169.254.1.1:3310", "public address"},
		{"unix:clamd.ctl", "absolute"},
		{"tcp:127.0.0.1", "tcp:host:port"},
		{"/run/clamav/clamd.ctl", "want unix:"},
		{"http://127.0.0.1:3310", "want unix:"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			_, err := scan.New(tc.addr)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("New(%q) = %v; want ok", tc.addr, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("New(%q) = %v; want an error with %q", tc.addr, err, tc.wantErr)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		err       error
		msg       string
		noVerdict bool
	}{
		{fmt.Errorf("commit: %w", &scan.InfectedError{Signature: "Win.Test.EICAR_HDB-1"}), "upload refused: the file contains malware (Win.Test.EICAR_HDB-1)", false},
		{&scan.TooLargeError{Max: 4 << 30}, "upload refused: files larger than 4 GiB cannot be scanned for malware here", false},
		{&scan.LimitsError{Signature: "Heuristics.Limits.Exceeded.MaxScanSize"}, "upload refused: the file exceeds what the malware scanner can check (its size, or an archive's nesting)", false},
		{&scan.UnavailableError{Err: errors.New("dial unix /run/clamav/clamd.ctl: connect: no such file")}, scan.UnavailableMessage, true},
		{&scan.ClamdError{Reply: "UNKNOWN COMMAND"}, scan.UnavailableMessage, true},
	} {
		msg, noVerdict := scan.Refusal(tc.err)
		if msg != tc.msg || noVerdict != tc.noVerdict {
			t.Errorf("Refusal(%v) = %q, %v; want %q, %v", tc.err, msg, noVerdict, tc.msg, tc.noVerdict)
		}
		if strings.Contains(msg, "/run/clamav") {
			t.Errorf("Refusal(%v) shows the partner clamd's address", tc.err)
		}
	}
}
