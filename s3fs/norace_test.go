//go:build !race

package s3fs

const raceEnabled = false
