package memlimit

import (
	"os"
	"path/filepath"
	"testing"
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
		want       Cgroup
	}{
		{"v2-parent-limit", "0::/kubepods/pod1/app\n", Cgroup{512 << 20, filepath.Join(root, "kubepods/pod1/memory.max")}},
		{"v2-none", "0::/\n", Cgroup{}},
		{"v1", "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n", Cgroup{600 << 20, filepath.Join(root, "memory/docker/abc/memory.limit_in_bytes")}},
		{"v1-unlimited", "4:memory:/\n", Cgroup{}},
		{"unreadable", "0::/no/such/group\n", Cgroup{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readContainer(tt.self, root); got != tt.want {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}
