package config

import "time"

// Limits are what one partner may take of the shared gateway, the same for
// every user unless its [[users]] table sets its own.
type Limits struct {
	// MaxOpenFiles caps the files one session has open for reading or
	// writing; 0 = no cap. Every open file holds memory, and OpenSSH's
	// sftp-server has no cap, so the default is generous.
	MaxOpenFiles int `toml:"max_open_files"`
	// UploadMemoryShare is the most of s3.upload_memory one user's uploads
	// hold together (all its sessions): a user at its share waits, others
	// go on. 0 (unset) = a quarter of upload_memory, at least part_size +
	// 16 MiB. It also bounds the largest part, and so the largest file.
	UploadMemoryShare Size `toml:"upload_memory_share"`
	// UploadMemoryWait bounds how long a write waits for upload memory;
	// past it the write (and its upload) fails with a message saying why.
	UploadMemoryWait Duration `toml:"upload_memory_wait"`
}

// reorderWindow is the out-of-order window every upload may hold beyond
// its part (s3fs maxAhead): a share needs a whole part and this.
const reorderWindow = 16 * MiB

func defaultLimits() Limits {
	return Limits{MaxOpenFiles: 64, UploadMemoryWait: Duration{time.Minute}}
}

// validateLimits checks [limits] and resolves the default share, which
// depends on [s3].
func (l *loader) validateLimits(lim *Limits, s S3) {
	if lim.MaxOpenFiles < 0 {
		l.errf("limits.max_open_files", "must be 0 (no cap) or more, got %d", lim.MaxOpenFiles)
	}
	if d := lim.UploadMemoryWait.Duration; d < time.Second && !l.failed["limits.upload_memory_wait"] {
		l.errf("limits.upload_memory_wait", `must be at least "1s", got %v`, d)
	}
	if !l.present["limits.upload_memory_share"] {
		lim.UploadMemoryShare = min(s.UploadMemory, max(s.UploadMemory/4, s.PartSize+reorderWindow))
		return
	}
	l.share("limits.upload_memory_share", lim.UploadMemoryShare, s)
}

// share checks an upload_memory_share at key against [s3].
func (l *loader) share(key string, n Size, s S3) {
	switch {
	case l.failed[key]:
	case n < s.PartSize:
		l.errf(key, "must be at least s3.part_size (%v), got %v", s.PartSize, n)
	case n > s.UploadMemory:
		l.errf(key, "must be at most s3.upload_memory (%v), got %v", s.UploadMemory, n)
	}
}

// userLimits checks the limits of the user at path and fills those it
// leaves out from [limits].
func (l *loader) userLimits(u *User, path string, lim Limits, s S3) {
	if !l.present[path+".max_open_files"] {
		u.MaxOpenFiles = lim.MaxOpenFiles
	} else if u.MaxOpenFiles < 0 {
		l.errf(path+".max_open_files", "must be 0 (no cap) or more, got %d", u.MaxOpenFiles)
	}
	if !l.present[path+".upload_memory_share"] {
		u.UploadMemoryShare = lim.UploadMemoryShare
		return
	}
	l.share(path+".upload_memory_share", u.UploadMemoryShare, s)
}
