//go:build !linux

package memlimit

// Container finds no container limit outside Linux: cgroups are Linux's.
func Container() Cgroup { return Cgroup{} }
