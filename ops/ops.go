// Package ops holds the operator tools: the orphan sweep's runner, presigned
// hand-outs and the shipping of audit segments to S3 (rewrap and decrypt
// still live in s3fs; see the report of issue 17).
//
// It never serves partners: nothing here runs inside an SFTP session, and
// its errors go to an operator's terminal or the gateway's log, never to a
// client. It reaches S3 only through what s3fs exposes (Dial's client and
// the small *FS methods documented as being for the operator tools), until
// the store package lands; it holds no object-format code of its own.
package ops
