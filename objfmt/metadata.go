package objfmt

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strconv"
	"strings"
	"time"
)

// What s3sftpd keeps beside an object's bytes besides its data key: S3 user
// metadata (x-amz-meta-*) fixed when the object is written, and object tags,
// which can be set later on the same version without a copy. The names are
// the same in both places.

// MetaUpload marks an object that an s3sftpd multipart upload or multipart
// copy made (value "1"; the object keeps it once completed): provenance for
// operators and inventories. The orphan sweep cannot read it (S3 lists
// uploads in progress without metadata) and goes by place instead.
const MetaUpload = "s3sftpd-upload"

// UploadMarker is the user metadata that marks a new multipart upload.
func UploadMarker() map[string]string { return map[string]string{MetaUpload: "1"} }

// TimesIndex is the name, in a folder, of the object that indexes the
// times kept on the folder's files (package s3fs/keptime), so a listing
// reads them with one GET. It sorts before nearly every name ("!" is the
// first printable character after the space), so the first listing page
// shows whether it is there; vfs refuses it as a name.
const TimesIndex = "!s3sftpd-times"

// IsTimesIndex reports whether key is a folder's times index: an object of
// the gateway's, not a partner's file.
func IsTimesIndex(key string) bool {
	return key == TimesIndex || strings.HasSuffix(key, "/"+TimesIndex)
}

// LifecycleLease is the name, at a folder's prefix, of the object through
// which the gateways sharing a bucket agree which one sweeps the folder for
// its retention, and what it has reported (package lifecycle).
const LifecycleLease = "!s3sftpd-lifecycle"

// Reserved reports whether a name (one path segment) is one of the
// gateway's own objects: vfs refuses it, listings hide it, the sweeps and
// the operator tools leave it alone.
func Reserved(name string) bool { return name == TimesIndex || name == LifecycleLease }

// IsReserved reports whether key names one of the gateway's own objects.
func IsReserved(key string) bool { return Reserved(key[strings.LastIndex(key, "/")+1:]) }

// MetaMtime keeps the modification time a client set (scp -p, WinSCP,
// lftp mirror, rclone, paramiko utime), which S3's LastModified cannot
// hold: unix seconds in decimal (FormatMtime), as user metadata or as an
// object tag of the same name. Its metadata value MtimeInTag says the time
// is in the tag: an upload pending under a temporary name has its metadata
// fixed before the client sets the time, and an object whose time a setstat
// moved once into a tag is tagged from then on.
const (
	MetaMtime  = "s3sftpd-mtime"
	MtimeInTag = "tag"
)

// FormatMtime is t as MetaMtime holds it.
func FormatMtime(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// Mtime is the time MetaMtime holds in meta (metadata or tags), and false
// when it holds none (absent, MtimeInTag, or not a number).
func Mtime(meta map[string]string) (time.Time, bool) {
	secs, err := strconv.ParseInt(meta[MetaMtime], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

// MtimeTagged reports whether metadata meta says the object's time is in
// its tags.
func MtimeTagged(meta map[string]string) bool { return meta[MetaMtime] == MtimeInTag }

// WithMtime returns a copy of meta that keeps mtime (if set). It never
// drops other keys (the upload marker, the SHA-256, the data key, a partner
// tool's own).
func WithMtime(meta map[string]string, mtime time.Time) map[string]string {
	out := maps.Clone(meta)
	if out == nil {
		out = map[string]string{}
	}
	if !mtime.IsZero() {
		out[MetaMtime] = FormatMtime(mtime)
	}
	return out
}

// MetaSHA256 keeps the SHA-256 of a plaintext object's content, lower-case
// hex, that downloads check and check-file answers: user metadata on an
// object stored with one PutObject, an object tag of the same name on a
// multipart one (its metadata is fixed when it is created, before a byte is
// hashed, and a tag is one small request on the version just written).
// Envelope-encrypted objects carry none: in the clear next to the
// ciphertext, the plaintext's hash would let anyone who reads the bucket
// confirm a guess of the content, and the chunks' tags authenticate every
// byte already.
const MetaSHA256 = "s3sftpd-sha256"

// ParseSHA256 is the digest a MetaSHA256 value holds, and false when it
// holds none (empty, not hex, or not 32 bytes).
func ParseSHA256(s string) ([]byte, bool) {
	sum, err := hex.DecodeString(s)
	if err != nil || len(sum) != sha256.Size {
		return nil, false
	}
	return sum, true
}

// OwnTags are the tags of an object that s3sftpd set (its SHA-256 and its
// time), which a copy of the object must set again: a multipart copy keeps
// no tags by itself. Another tool's tags are left out.
func OwnTags(tags map[string]string) map[string]string {
	own := map[string]string{}
	for _, name := range []string{MetaSHA256, MetaMtime} {
		if v := tags[name]; v != "" {
			own[name] = v
		}
	}
	return own
}
