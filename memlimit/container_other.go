//go:build !linux

package memlimit

// Container finds no container limit outside Linux: cgroups are Linux's.
func Container() (limit int64, source string) { return 0, "" }
