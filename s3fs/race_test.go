//go:build race

package s3fs

// raceEnabled: the race detector drops some of what a sync.Pool is given,
// so a test of buffer reuse checks the bytes but not the allocations.
const raceEnabled = true
