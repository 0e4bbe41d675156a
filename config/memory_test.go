package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/memlimit"
)

// mb is a MiB in the split's unit.
const mb = memlimit.Bytes(MiB)

func TestLoad_Memory(t *testing.T) {
	const cgroup = "/sys/fs/cgroup/memory.max"
	tests := []struct {
		name      string
		config    string
		container memlimit.Cgroup
		want      memlimit.Split
		uploads   Size // s3.upload_memory after Load
		readAhead Size // user_defaults.read_ahead_memory_per_user after Load
	}{
		{
			name:   "limit-sizes-the-budgets",
			config: "[server]\nmemory_limit = \"512MiB\"\n" + valid,
			// 512 = runtime 128 + base 48 + 336 for budgets: half uploads, a fifth read-ahead, the rest 25 sessions
			want: memlimit.Split{Limit: 512 * mb, From: "server.memory_limit", Uploads: 168 * mb, ReadAhead: 67 * mb,
				Sessions: 100 * mb, Base: 48 * mb, Runtime: 129 * mb, SoftLimit: 460 * mb},
			uploads: 168 * MiB, readAhead: 64 * MiB,
		},
		{
			name:      "container-limit-when-unset",
			config:    valid,
			container: memlimit.Cgroup{MemoryMax: 600 * mb, Source: cgroup},
			want: memlimit.Split{Limit: 600 * mb, From: "container, " + cgroup, Uploads: 201 * mb, ReadAhead: 80 * mb,
				Sessions: 120 * mb, Base: 48 * mb, Runtime: 151 * mb, SoftLimit: 540 * mb},
			uploads: 201 * MiB, readAhead: 64 * MiB,
		},
		{
			name:      "set-limit-under-the-container",
			config:    "[server]\nmemory_limit = \"256MiB\"\n" + valid,
			container: memlimit.Cgroup{MemoryMax: 600 * mb, Source: cgroup},
			// 256 = runtime 64 + base 48 + 144: uploads 72, read-ahead 28, 11 sessions
			want: memlimit.Split{Limit: 256 * mb, From: "server.memory_limit", Uploads: 72 * mb, ReadAhead: 28 * mb,
				Sessions: 44 * mb, Base: 48 * mb, Runtime: 64 * mb, SoftLimit: 224 * mb},
			uploads: 72 * MiB, readAhead: 28 * MiB, // the default share shrinks to the budget
		},
		{
			name:   "set-budgets-fit",
			config: "[server]\nmemory_limit = \"1GiB\"\n[s3]\nbucket = \"b\"\nupload_memory = \"400MiB\"\nread_ahead_memory = \"100MiB\"\n" + validUser,
			// 1024 = runtime 256 + base 48 + 400 + 100 + 220 for 55 sessions
			want: memlimit.Split{Limit: 1024 * mb, From: "server.memory_limit", Uploads: 400 * mb, ReadAhead: 100 * mb,
				Sessions: 220 * mb, Base: 48 * mb, Runtime: 256 * mb, SoftLimit: 921 * mb},
			uploads: 400 * MiB, readAhead: 64 * MiB,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"config.toml": tt.config})
			cfg, err := LoadIn(filepath.Join(dir, "config.toml"), tt.container)
			if err != nil {
				t.Fatalf("got err = %v; want nil", err)
			}
			if diff := cmp.Diff(tt.want, cfg.Memory); diff != "" {
				t.Errorf("memory split mismatch (-want +got):\n%s", diff)
			}
			m := cfg.Memory
			if got := m.Uploads + m.ReadAhead + m.Sessions + m.Base + m.Runtime; got != m.Limit {
				t.Errorf("got parts summing to %v; want the limit %v", got, m.Limit)
			}
			if got := cfg.S3.UploadMemory; got != tt.uploads {
				t.Errorf("got s3.upload_memory = %v; want %v", got, tt.uploads)
			}
			if got := cfg.S3.ReadAheadMemory; got != Size(m.ReadAhead) {
				t.Errorf("got s3.read_ahead_memory = %v; want %v", got, m.ReadAhead)
			}
			if got := cfg.Users[0].ReadAheadMemoryPerUser; got != tt.readAhead {
				t.Errorf("got the user's read-ahead share = %v; want %v", got, tt.readAhead)
			}
		})
	}
}

// TestLoad_MemoryContainerErrors checks that budgets the container's limit
// cannot hold are refused at the key to change.
func TestLoad_MemoryContainerErrors(t *testing.T) {
	c := memlimit.Cgroup{MemoryMax: 300 * mb, Source: "/sys/fs/cgroup/memory.max"}
	tests := []struct {
		name, config string
		want         []string
	}{
		{
			name:   "set-limit-above-container",
			config: "[server]\nmemory_limit = \"512MiB\"\n" + valid,
			want:   []string{"config.toml:2:1: server.memory_limit: 512MiB is above the container's memory limit (300MiB, /sys/fs/cgroup/memory.max): the kernel would kill the gateway before this limit holds"},
		},
		{
			name:   "upload-memory-too-large",
			config: "[s3]\nbucket = \"b\"\nupload_memory = \"200MiB\"\n" + validUser,
			want: []string{"config.toml:3:1: s3.upload_memory: the container's memory limit (/sys/fs/cgroup/memory.max) 300MiB cannot hold " +
				"s3.upload_memory 200MiB + s3.read_ahead_memory 35MiB + 4 sessions (16MiB) + base 48MiB + runtime 75MiB: raise the limit to at least 399MiB or lower the budgets"},
		},
		{
			name:   "container-too-small",
			config: "[server]\nlisten = \"127.0.0.1:2022\"\n" + valid,
			want:   []string{"config.toml:1:1: the container's memory limit (/sys/fs/cgroup/memory.max) 100MiB is too small: with part_size 16MiB the gateway needs at least 108MiB"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"config.toml": tt.config})
			c := c
			if tt.name == "container-too-small" {
				c.MemoryMax = 100 * mb
			}
			t.Chdir(dir)
			_, err := LoadIn("config.toml", c)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestLoad_MemoryWaitUnderIdleTimeout: unset, memory_wait stays under half
// the idle timeout, so a client waiting for room is never closed as idle.
func TestLoad_MemoryWaitUnderIdleTimeout(t *testing.T) {
	cfg, _ := mustLoad(t, "[server]\nidle_timeout = \"1m\"\n"+valid, nil)
	if got, want := cfg.Server.MemoryWait.Duration, 30*time.Second; got != want {
		t.Errorf("got memory_wait = %v with idle_timeout 1m; want %v", got, want)
	}
}
