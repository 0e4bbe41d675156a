package config

import (
	"fmt"
	"time"
)

// How the process's memory splits. The budgets (uploads, read-ahead,
// sessions) bound what transfers hold; base and runtime are the rest of
// the process, so that the whole stays under memory_limit.
const (
	// SessionBuffers is what one SFTP session may hold outside the upload
	// and read-ahead budgets (memlimit.SessionBuffers, which must equal it):
	// its SSH channel window (2 MiB, fixed by x/crypto), the SFTP
	// requests in flight (1 MiB, memlimit bounds them) and its goroutines,
	// a reply and an S3 connection's buffers.
	SessionBuffers = 4 * MiB
	// baseMemory is the process without a session: runtime, SDK clients,
	// audit, metrics; measured at about 30 MiB of RSS, with room to spare.
	baseMemory = 48 * MiB
	// minSessions is the fewest sessions a limit must leave room for.
	minSessions = 4
	// derivedSessions is the room for sessions when no limit is set.
	derivedSessions = 64
	// minMemoryWait is the shortest server.memory_wait.
	minMemoryWait = time.Second
)

// Container is what cmd read of the process's cgroup: its memory limit,
// when one is set, and the file it came from. Load itself reads no file
// but the config.
type Container struct {
	MemoryMax Size   // 0: none
	Source    string // such as "/sys/fs/cgroup/memory.max"
}

// Memory is how the process's memory limit splits, worked out by Load.
type Memory struct {
	// Limit is the most RSS the gateway plans for; From says where it
	// came from: "server.memory_limit", the container's cgroup file, or
	// "derived" (the budgets plus base and runtime).
	Limit Size
	From  string
	// Uploads and ReadAhead are s3.upload_memory and s3.read_ahead_memory
	// (set, or derived from Limit when a limit is set and they are not).
	Uploads, ReadAhead Size
	// Sessions is the room for SFTP sessions: Sessions/SessionBuffers of
	// them run at once, later ones wait (server.memory_wait) or are
	// refused as "server busy".
	Sessions Size
	// Base is the process without sessions; Runtime is the rest of
	// Limit: the garbage collector's headroom and memory Go does not
	// count (the program's own code).
	Base, Runtime Size
	// SoftLimit is Go's soft memory limit (debug.SetMemoryLimit): Limit
	// less what the Go runtime does not count.
	SoftLimit Size
}

// MaxSessions is the number of sessions that fit Sessions.
func (m Memory) MaxSessions() int { return int(m.Sessions / SessionBuffers) }

// String is the split as check-config prints it.
func (m Memory) String() string {
	return fmt.Sprintf("memory limit %v (%s) = uploads %v + read-ahead %v + sessions %v (%d × %v) + base %v + runtime %v; Go soft limit %v",
		m.Limit, m.From, m.Uploads, m.ReadAhead, m.Sessions, m.MaxSessions(), SessionBuffers, m.Base, m.Runtime, m.SoftLimit)
}

// runtimeShare is the part of a limit kept for the garbage collector and
// memory outside Go's heap: with a quarter, the live heap stays at most
// three quarters of the soft limit, so collections stay cheap.
func runtimeShare(limit Size) Size { return limit / 4 }

// softLimit leaves out of Go's limit what Go does not count (the mapped
// program, the OS's thread stacks) and the collector's lag: a tenth, at
// least 32 MiB. Measured, RSS peaks about 17 MiB above the soft limit.
func softLimit(limit Size) Size { return roundDownMiB(limit - max(limit/10, 32*MiB)) }

// minMemoryLimit is the smallest limit that holds one part, a read-ahead
// block and minSessions besides base and runtime.
func minMemoryLimit(partSize Size) Size {
	return roundUpMiB((baseMemory + partSize + minReadAheadMemory + minSessions*SessionBuffers) * 4 / 3)
}

func roundUpMiB(s Size) Size   { return (s + MiB - 1) / MiB * MiB }
func roundDownMiB(s Size) Size { return s / MiB * MiB }

// validateMemory works out cfg.Memory: the limit (server.memory_limit,
// else the container's, else derived from the budgets) and how it splits;
// budgets the config does not set are sized from a limit. It refuses a
// limit the budgets cannot fit, at the key to change.
func (l *loader) validateMemory(cfg *Config, c Container) {
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
	m := Memory{Base: baseMemory, Uploads: s.UploadMemory, ReadAhead: s.ReadAheadMemory}
	setLimit, setUploads, setReadAhead := l.present["server.memory_limit"], l.present["s3.upload_memory"], l.present["s3.read_ahead_memory"]
	switch {
	case setLimit:
		m.Limit, m.From = srv.MemoryLimit, "server.memory_limit"
		if c.MemoryMax > 0 && m.Limit > c.MemoryMax {
			l.errf("server.memory_limit", "%v is above the container's memory limit (%v, %s): the kernel would kill the gateway before this limit holds",
				m.Limit, c.MemoryMax, c.Source)
		}
	case c.MemoryMax > 0:
		m.Limit, m.From = roundDownMiB(c.MemoryMax), "container, "+c.Source
	default:
		m.Sessions = derivedSessions * SessionBuffers
		used := m.Base + m.Uploads + m.ReadAhead + m.Sessions
		m.Limit, m.From = roundUpMiB(used*4/3), "derived"
		m.Runtime, m.SoftLimit = m.Limit-used, softLimit(m.Limit)
		cfg.Memory = m
		return
	}
	if m.Limit < minMemoryLimit(s.PartSize) {
		l.memoryErr(c, setLimit, setUploads, setReadAhead, "%v is too small: with part_size %v the gateway needs at least %v",
			m.Limit, s.PartSize, minMemoryLimit(s.PartSize))
		return
	}
	m.Runtime = runtimeShare(m.Limit)
	pool := m.Limit - m.Runtime - m.Base // for the budgets
	if !setUploads {
		m.Uploads = max(roundDownMiB(pool/2), s.PartSize)
	}
	if !setReadAhead {
		m.ReadAhead = max(roundDownMiB(pool/5), minReadAheadMemory)
	}
	rest := pool - m.Uploads - m.ReadAhead
	if rest < minSessions*SessionBuffers {
		l.memoryErr(c, setLimit, setUploads, setReadAhead,
			"%v cannot hold s3.upload_memory %v + s3.read_ahead_memory %v + %d sessions (%v) + base %v + runtime %v: raise the limit to at least %v or lower the budgets",
			m.Limit, m.Uploads, m.ReadAhead, minSessions, minSessions*SessionBuffers, m.Base, m.Runtime,
			roundUpMiB((m.Base+m.Uploads+m.ReadAhead+minSessions*SessionBuffers)*4/3))
		return
	}
	m.Sessions = rest / SessionBuffers * SessionBuffers
	m.Runtime = m.Limit - m.Base - m.Uploads - m.ReadAhead - m.Sessions
	m.SoftLimit = softLimit(m.Limit)
	s.UploadMemory, s.ReadAheadMemory = m.Uploads, m.ReadAhead
	if !l.present["user_defaults.read_ahead_memory_per_user"] {
		cfg.UserDefaults.ReadAheadMemoryPerUser = min(cfg.UserDefaults.ReadAheadMemoryPerUser, m.ReadAhead)
	}
	cfg.Memory = m
}

// memoryErr reports a limit the budgets do not fit: at server.memory_limit
// when the config sets it, else (the container's limit) at a budget the
// config sets, else at the server table.
func (l *loader) memoryErr(c Container, setLimit, setUploads, setReadAhead bool, format string, args ...any) {
	if setLimit {
		l.errf("server.memory_limit", format, args...)
		return
	}
	msg := "the container's memory limit (" + c.Source + ") " + fmt.Sprintf(format, args...)
	switch {
	case setUploads:
		l.errf("s3.upload_memory", "%s", msg)
	case setReadAhead:
		l.errf("s3.read_ahead_memory", "%s", msg)
	default:
		l.msgf("server", "%s", msg)
	}
}
