package memlimit

import (
	"os"
	"path"
	"strconv"
	"strings"
)

// cgroupRoot is where the cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// Container is the memory limit of the cgroup the process runs in (the
// container's); none when it cannot be read.
func Container() Cgroup {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Cgroup{}
	}
	return readContainer(string(self), cgroupRoot)
}

// readContainer finds the lowest memory limit on the way from the cgroup
// in self (/proc/self/cgroup) up to the root: cgroup v2's memory.max, else
// v1's memory.limit_in_bytes. A parent's limit holds for its children too.
func readContainer(self, root string) Cgroup {
	var best Cgroup
	for line := range strings.SplitSeq(strings.TrimSpace(self), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			dir, file = root, "memory.max"
		case hasController(parts[1], "memory"): // v1
			dir, file = path.Join(root, "memory"), "memory.limit_in_bytes"
		default:
			continue
		}
		for p := path.Clean("/" + parts[2]); ; p = path.Dir(p) {
			f := path.Join(dir, p, file)
			if n := Bytes(readLimit(f)); n > 0 && (best.MemoryMax == 0 || n < best.MemoryMax) {
				best = Cgroup{n, f}
			}
			if p == "/" {
				break
			}
		}
	}
	return best
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a cgroup memory limit file: 0 for none ("max", or v1's
// unlimited, a number near 2^63) or when it cannot be read.
func readLimit(file string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}
