package s3fs

import (
	"time"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/datakey"
	"github.com/s3sftpd/s3sftpd/s3fs/gate"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/store"
)

// Checksum modes and server-side encryption values, as the store has them.
const (
	ChecksumsAWS    = store.ChecksumsAWS
	ChecksumsCompat = store.ChecksumsCompat
	SSEAES256       = store.SSEAES256
	SSEKMS          = store.SSEKMS
)

// Config is what s3fs needs to serve over a store. The store's Config is
// embedded: s3fs writes with its server-side encryption (SSE, KMSKeyID)
// and checksum mode, so one value says both; the rest of it (endpoint,
// credentials, retries) is only for store.Dial.
type Config struct {
	store.Config

	// TempSuffixes end the temporary names clients upload to and then rename
	// (".filepart", or ".*.partial" where "*" is one dot-free segment); nil
	// is upload.DefaultTempSuffixes. Such an upload stays pending until its rename.
	TempSuffixes []string

	PartSize     int64 // first part size, ≥ 5 MiB
	UploadMemory int64 // process-wide budget for upload buffers, ≥ PartSize
	// UploadMemoryShare is the most of UploadMemory one user's uploads hold
	// together, unless its Tenant sets its own: a user at its share waits,
	// others go on. 0 is a quarter of UploadMemory, at least PartSize + 16 MiB.
	UploadMemoryShare int64
	// UploadMemoryWait bounds a write's wait for upload memory: past it the
	// write fails with a message saying so. 0 is DefaultUploadMemoryWait.
	UploadMemoryWait time.Duration
	// ReadAheadMemory is the process-wide budget for download read-ahead;
	// 0 is DefaultReadAheadMemory. Each user's share of it is the tenant's
	// Limits.ReadAheadMemory.
	ReadAheadMemory int64
	// Throttled, if set, is told of time a transfer lost to a limit, with
	// a reason such as ThrottledReadAheadMemory (for the metrics).
	Throttled func(reason string, d time.Duration)

	// Keys unwraps the data keys of envelope-encrypted objects; nil reads
	// only plaintext objects. With Envelope, every new object is
	// encrypted at the gateway under Keys.Current (SSE still applies on
	// top), and every object read must be encrypted.
	Keys     *objfmt.Keyring
	Envelope bool
	// KMS, when set, makes the data keys of new objects under Envelope
	// (and unwraps those it made) instead of Keys.
	KMS *KMS
	// RefuseFormat1 makes downloads and renames refuse envelope objects of
	// format version 1, whose data keys are bound to no name: once rewrap
	// has upgraded every object, one a bucket writer copies over another
	// name (or restores from an old version) then fails instead of
	// decrypting. `rewrap` and `decrypt` still read them.
	RefuseFormat1 bool
	// NameKey, when set, encrypts object names: every path segment below a
	// tenant's prefix, with a key derived from NameKey, bucket and prefix.
	NameKey *objfmt.KEK
	// HideNames is set with audit paths = "hmac": logs of no session (the
	// orphan sweep) then show no request URL, which holds an object key.
	HideNames bool
	Gates     gate.Config // [scan] and [pgp]: the content gates' scanner and key
}

const (
	// DefaultUploadMemoryWait is long enough for parts in flight to reach a
	// slow S3, short enough that a client is told before it gives up.
	DefaultUploadMemoryWait = time.Minute
)

// S3's multipart limits (package upload keeps to them).
const (
	minPartSize = upload.MinPartSize
	maxPartSize = upload.MaxPartSize
	maxParts    = upload.MaxParts
)

// abortTimeout bounds the clean-up of a failed multipart copy after its
// session ended.
const abortTimeout = 30 * time.Second

func (c Config) validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	switch {
	case c.PartSize < minPartSize || c.PartSize > maxPartSize:
		return configError("part size %d outside 5 MiB..5 GiB", c.PartSize)
	case c.UploadMemory < c.PartSize:
		return configError("upload memory %d is below the part size %d", c.UploadMemory, c.PartSize)
	case c.UploadMemoryShare != 0 && (c.UploadMemoryShare < c.PartSize || c.UploadMemoryShare > c.UploadMemory):
		return configError("upload memory share %d outside the part size %d..upload memory %d", c.UploadMemoryShare, c.PartSize, c.UploadMemory)
	case c.UploadMemoryWait < 0:
		return configError("upload memory wait %v is negative", c.UploadMemoryWait)
	case c.ReadAheadMemory < 0:
		return configError("read-ahead memory %d is negative", c.ReadAheadMemory)
	case c.Envelope && (c.Keys == nil || c.Keys.Current == nil) && c.KMS == nil:
		return configError("envelope encryption needs a key-encryption key")
	}
	for _, s := range c.TempSuffixes {
		if !upload.ValidTempSuffix(s) {
			return configError("temporary suffix %q must be \".name\" or \".*.name\"", s)
		}
	}
	return nil
}

func (c Config) tempNames() upload.TempNames {
	if c.TempSuffixes == nil {
		return upload.DefaultTempSuffixes
	}
	return c.TempSuffixes
}

// KMS takes envelope data keys from AWS KMS instead of a local KEK (see
// package datakey).
type KMS = datakey.KMS
