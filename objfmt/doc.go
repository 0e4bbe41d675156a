// Package objfmt is the object format: what an object s3sftpd writes
// carries, in its bytes and beside them, and how to read it back. It owns
// the chunked AES-256-GCM envelope, the wrapping of per-object data keys by
// key-encryption keys or KMS (the metadata and the encryption context), the
// deterministic encryption of object names, and the other metadata and tags
// s3sftpd keeps on an object (upload marker, modification time, SHA-256).
// Which writes set them, and when, is s3fs's business.
//
// It calls nothing: no S3, no KMS, no SFTP, no global state, and no I/O but
// reading a KEK file. Its functions work on bytes and on metadata maps as S3
// returns them; store and s3fs do the I/O. s3fs and the operator tools
// (rewrap, decrypt, presign) share these definitions, so an object written
// by one reads in the others (internal/layout checks the imports).
//
// The format is a compatibility promise: objects written before must read
// after. Version 2 binds a data key's wrapping to where the object lives
// (bucket, home, key below the home) and the chunks to a random object id,
// so a rename re-wraps the data key and never re-encrypts the body.
// docs/envelope-format.md describes the same format for independent
// decryptors; keep them in step.
package objfmt
