//go:build race

package e2e

// raceEnabled builds the server under test with the race detector too, so the
// end-to-end tests also catch races inside s3sftpd itself.
const raceEnabled = true
