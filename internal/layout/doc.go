// Package layout holds no code: its test reads the import graph with
// `go list` and fails when a package crosses the layout's import rules:
// sftpd never imports s3fs; only cmd imports config and internal/tryout;
// nothing imports cmd; audit stays a leaf; objfmt calls nothing (no SDK, no
// pkg/sftp, none of s3fs, store, sftpd); only the try-out store links
// gofakes3 and bbolt; only store, doctor, the test helpers, the SDK
// baseline bench/s3direct and the SNS event sink events/sns import the AWS
// SDK's service packages; cmd, ops,
// s3fs and every package under s3fs import nothing of the SDK; no package
// under s3fs (upload, download, datakey, sealing, keptime, listing, attr,
// gate, boundary) imports s3fs back (the handlers drive them, never the other way). It also
// fails when a package grows past the 2,000-line budget or s3fs/upload's
// *Upload spreads over more than two files. It pins the rules, so the
// structure cannot drift back.
package layout
