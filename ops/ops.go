// Package ops holds the operator tools: decrypt (plaintext from the store
// with nothing but the keys), rewrap (data keys to the current key), the
// orphan sweep's runner, presigned hand-outs, the shipping of audit
// segments to S3 and the name index that resolves a report's hashed names.
// cmd/s3sftpd parses the flags and reports; ops does the work.
//
// It never serves partners: nothing here runs inside an SFTP session, and
// its errors go to an operator's terminal or the gateway's log, never to an
// SFTP client. It reaches S3 only through store's plain methods (listings,
// heads, presigning, audit segment writes) and the FS methods documented
// for the operator tools (OpenPlaintext, NameDecoder, CurrentKeyID,
// RewrapObject, ObjectKey; for the orphan sweep Objects, InFlight and
// Swept), and imports nothing of the AWS SDK
// (internal/layout checks it); it holds no object-format code of its own:
// it reads what an object carries through objfmt.
package ops
