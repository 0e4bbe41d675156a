// Package e2e holds the end-to-end tests: TestMain builds the s3sftpd
// binary once (with -race when the tests run with it), and the tests run it
// as an operator would and drive it with real clients (OpenSSH sftp and scp,
// psftp, lftp, curl, rclone, paramiko) against real servers on loopback:
// versitygw for S3, local-kms, toxiproxy and haproxy. Nothing here fakes S3,
// and no traffic leaves 127.0.0.1.
//
// The package has no code of its own and calls no function of package main:
// tests of cmd/s3sftpd's own functions stay beside them. Run one test with
//
//	go test -race -count=1 -run 'TestE2E_SFTPSession$' ./test/e2e/
//
// The whole package takes several minutes: go test -timeout 20m ./test/e2e/.
package e2e
