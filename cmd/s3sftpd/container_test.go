package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

func TestReadContainer(t *testing.T) {
	root := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory.max", "max")
	write("kubepods/pod1/memory.max", "536870912")
	write("kubepods/pod1/app/memory.max", "max") // the parent's limit holds
	write("memory/docker/abc/memory.limit_in_bytes", "629145600")
	write("memory/memory.limit_in_bytes", "9223372036854771712") // v1's unlimited
	tests := []struct {
		name, self string
		want       config.Container
	}{
		{"v2-parent-limit", "0::/kubepods/pod1/app\n", config.Container{MemoryMax: 512 << 20, Source: filepath.Join(root, "kubepods/pod1/memory.max")}},
		{"v2-none", "0::/\n", config.Container{}},
		{"v1", "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n", config.Container{MemoryMax: 600 << 20, Source: filepath.Join(root, "memory/docker/abc/memory.limit_in_bytes")}},
		{"v1-unlimited", "4:memory:/\n", config.Container{}},
		{"unreadable", "0::/no/such/group\n", config.Container{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readContainer(tt.self, root); got != tt.want {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

// TestSessionBuffersAgree: config plans the room for sessions with the
// size sftpd holds for each.
func TestSessionBuffersAgree(t *testing.T) {
	if config.SessionBuffers != sftpd.SessionBuffers {
		t.Errorf("got config.SessionBuffers = %v, sftpd.SessionBuffers = %v; want them equal", config.SessionBuffers, sftpd.SessionBuffers)
	}
}
