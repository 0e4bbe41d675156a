package config

import (
	"time"

	"github.com/s3sftpd/s3sftpd/memlimit"
)

// minMemoryWait is the shortest server.memory_wait.
const minMemoryWait = time.Second

// validateMemory checks server.memory_wait and works out cfg.Memory from
// the limit and budget keys and c, the cgroup's limit as cmd read it,
// placing the problem memlimit.Plan finds at its key; budgets the config
// does not set are sized from a limit.
func (l *loader) validateMemory(cfg *Config, c memlimit.Cgroup) {
	s, srv := &cfg.S3, &cfg.Server
	if idle := srv.IdleTimeout.Duration; !l.present["server.memory_wait"] && idle > 0 {
		srv.MemoryWait.Duration = min(srv.MemoryWait.Duration, idle/2) // a waiting client must not be closed as idle
	}
	switch d := srv.MemoryWait.Duration; {
	case l.failed["server.memory_wait"]:
	case d < minMemoryWait:
		l.errf("server.memory_wait", `must be at least "1s", got %v`, d)
	case d >= srv.IdleTimeout.Duration && srv.IdleTimeout.Duration > 0:
		l.errf("server.memory_wait", "must be shorter than server.idle_timeout (%v): a client waiting that long is closed as idle, got %v", srv.IdleTimeout.Duration, d)
	}
	if l.failed["server.memory_limit"] || l.failed["s3.upload_memory"] || l.failed["s3.read_ahead_memory"] {
		return // reported; no split to work out
	}
	setLimit := l.present["server.memory_limit"]
	if setLimit && c.MemoryMax > 0 && memlimit.Bytes(srv.MemoryLimit) > c.MemoryMax {
		l.errf("server.memory_limit", "%v is above the container's memory limit (%v, %s): the kernel would kill the gateway before this limit holds",
			srv.MemoryLimit, c.MemoryMax, c.Source)
	}
	m, p := memlimit.Plan(memlimit.Budgets{
		Limit: memlimit.Bytes(srv.MemoryLimit), SetLimit: setLimit,
		Uploads: memlimit.Bytes(s.UploadMemory), SetUploads: l.present["s3.upload_memory"],
		ReadAhead: memlimit.Bytes(s.ReadAheadMemory), SetReadAhead: l.present["s3.read_ahead_memory"],
		PartSize: memlimit.Bytes(s.PartSize), MinReadAhead: memlimit.Bytes(minReadAheadMemory),
		Container: c,
	})
	switch {
	case p != nil && p.Key == "":
		l.msgf("server", "%s", p.Msg)
		return
	case p != nil:
		l.errf(p.Key, "%s", p.Msg)
		return
	}
	cfg.Memory = m
	if m.From == "derived" {
		return // the budgets as set
	}
	s.UploadMemory, s.ReadAheadMemory = Size(m.Uploads), Size(m.ReadAhead)
	if !l.present["user_defaults.read_ahead_memory_per_user"] {
		cfg.UserDefaults.ReadAheadMemoryPerUser = min(cfg.UserDefaults.ReadAheadMemoryPerUser, Size(m.ReadAhead))
	}
}
