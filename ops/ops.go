// Package ops holds the operator tools: decrypt (plaintext from the store
// with nothing but the keys), rewrap (data keys to the current key), the
// orphan sweep, presigned hand-outs, the shipping of audit
// segments to S3 and the name index that resolves a report's hashed names.
// cmd/s3sftpd parses the flags and reports; ops does the work.
//
// It never serves partners: nothing here runs inside an SFTP session, and
// its errors go to an operator's terminal or the gateway's log, never to an
// SFTP client. It reaches S3 only through store (its plain methods, and
// store.Objects for the reads, copies and aborts of decrypt, rewrap and the
// orphan sweep); of the FS it asks only what the FS alone knows (its
// Sealing: DataKey, Rebind, Envelope, NameDecoder, CurrentKeyID; ObjectKey;
// InFlight and Swept for the sweep), and it imports nothing of the AWS SDK
// (internal/layout checks it); it holds no object-format code of its own:
// it reads what an object carries through objfmt.
package ops
