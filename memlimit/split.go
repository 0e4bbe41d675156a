package memlimit

import (
	"fmt"
	"strconv"
)

// How the process's memory splits. The budgets (uploads, read-ahead,
// sessions) bound what transfers hold; base and runtime are the rest of
// the process, so that the whole stays under the memory limit.
const (
	mib = 1 << 20
	// baseMemory is the process without a session: runtime, SDK clients,
	// audit, metrics; measured at about 30 MiB of RSS, with room to spare.
	baseMemory = 48 * mib
	// minSessions is the fewest sessions a limit must leave room for.
	minSessions = 4
	// derivedSessions is the room for sessions when no limit is set.
	derivedSessions = 64
)

// Bytes is a number of bytes that prints in the largest binary unit that
// divides it exactly: "16MiB", "1000B" (as the config writes sizes).
type Bytes int64

func (b Bytes) String() string {
	for _, u := range []struct {
		name string
		size Bytes
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// Cgroup is the memory limit of the process's cgroup, when one is set, and
// the file it came from.
type Cgroup struct {
	MemoryMax Bytes  // 0: none
	Source    string // such as "/sys/fs/cgroup/memory.max"
}

// Budgets is what the split is worked out from: the config's keys, whether
// it sets them, and the container's limit.
type Budgets struct {
	// Limit is server.memory_limit, used when SetLimit.
	Limit    Bytes
	SetLimit bool
	// Uploads and ReadAhead are s3.upload_memory and s3.read_ahead_memory;
	// a limit sizes the ones not set.
	Uploads, ReadAhead       Bytes
	SetUploads, SetReadAhead bool
	// PartSize is s3.part_size; MinReadAhead is one read-ahead block.
	PartSize, MinReadAhead Bytes
	// Container is the cgroup's limit, used when the config sets none.
	Container Cgroup
}

// Split is how the process's memory limit splits.
type Split struct {
	// Limit is the most RSS the gateway plans for; From says where it
	// came from: "server.memory_limit", the container's cgroup file, or
	// "derived" (the budgets plus base and runtime).
	Limit Bytes
	From  string
	// Uploads and ReadAhead are s3.upload_memory and s3.read_ahead_memory
	// (set, or derived from Limit when a limit is set and they are not).
	Uploads, ReadAhead Bytes
	// Sessions is the room for SFTP sessions: Sessions/SessionBuffers of
	// them run at once, later ones wait (server.memory_wait) or are
	// refused as "server busy".
	Sessions Bytes
	// Base is the process without sessions; Runtime is the rest of
	// Limit: the garbage collector's headroom and memory Go does not
	// count (the program's own code).
	Base, Runtime Bytes
	// SoftLimit is Go's soft memory limit (debug.SetMemoryLimit): Limit
	// less what the Go runtime does not count.
	SoftLimit Bytes
}

// MaxSessions is the number of sessions that fit Sessions.
func (m Split) MaxSessions() int { return int(m.Sessions / SessionBuffers) }

// String is the split as check-config prints it.
func (m Split) String() string {
	return fmt.Sprintf("memory limit %v (%s) = uploads %v + read-ahead %v + sessions %v (%d × %v) + base %v + runtime %v; Go soft limit %v",
		m.Limit, m.From, m.Uploads, m.ReadAhead, m.Sessions, m.MaxSessions(), Bytes(SessionBuffers), m.Base, m.Runtime, m.SoftLimit)
}

// Problem is a limit the budgets do not fit, at Key: the config key to
// change, or "" when the config sets none (the limit is the container's).
type Problem struct {
	Key, Msg string
}

// Plan works out the split: the limit (b.Limit, else the container's,
// else derived from the budgets) and how it splits; budgets not set are
// sized from a limit. It refuses a limit the budgets cannot fit, at the
// key to change. A limit above the container's is the caller's to refuse.
func Plan(b Budgets) (Split, *Problem) {
	m := Split{Base: baseMemory, Uploads: b.Uploads, ReadAhead: b.ReadAhead}
	switch {
	case b.SetLimit:
		m.Limit, m.From = b.Limit, "server.memory_limit"
	case b.Container.MemoryMax > 0:
		m.Limit, m.From = roundDownMiB(b.Container.MemoryMax), "container, "+b.Container.Source
	default:
		m.Sessions = derivedSessions * SessionBuffers
		used := m.Base + m.Uploads + m.ReadAhead + m.Sessions
		m.Limit, m.From = roundUpMiB(used*4/3), "derived"
		m.Runtime, m.SoftLimit = m.Limit-used, softLimit(m.Limit)
		return m, nil
	}
	if need := minLimit(b.PartSize, b.MinReadAhead); m.Limit < need {
		return Split{}, b.problem("%v is too small: with part_size %v the gateway needs at least %v", m.Limit, b.PartSize, need)
	}
	m.Runtime = runtimeShare(m.Limit)
	pool := m.Limit - m.Runtime - m.Base // for the budgets
	if !b.SetUploads {
		m.Uploads = max(roundDownMiB(pool/2), b.PartSize)
	}
	if !b.SetReadAhead {
		m.ReadAhead = max(roundDownMiB(pool/5), b.MinReadAhead)
	}
	rest := pool - m.Uploads - m.ReadAhead
	if rest < minSessions*SessionBuffers {
		return Split{}, b.problem(
			"%v cannot hold s3.upload_memory %v + s3.read_ahead_memory %v + %d sessions (%v) + base %v + runtime %v: raise the limit to at least %v or lower the budgets",
			m.Limit, m.Uploads, m.ReadAhead, minSessions, Bytes(minSessions*SessionBuffers), m.Base, m.Runtime,
			roundUpMiB((m.Base+m.Uploads+m.ReadAhead+minSessions*SessionBuffers)*4/3))
	}
	m.Sessions = rest / SessionBuffers * SessionBuffers
	m.Runtime = m.Limit - m.Base - m.Uploads - m.ReadAhead - m.Sessions
	m.SoftLimit = softLimit(m.Limit)
	return m, nil
}

// problem places a limit the budgets do not fit: at server.memory_limit
// when the config sets it, else (the container's limit) at a budget the
// config sets, else at no key.
func (b Budgets) problem(format string, args ...any) *Problem {
	if b.SetLimit {
		return &Problem{"server.memory_limit", fmt.Sprintf(format, args...)}
	}
	msg := "the container's memory limit (" + b.Container.Source + ") " + fmt.Sprintf(format, args...)
	switch {
	case b.SetUploads:
		return &Problem{"s3.upload_memory", msg}
	case b.SetReadAhead:
		return &Problem{"s3.read_ahead_memory", msg}
	}
	return &Problem{"", msg}
}

// runtimeShare is the part of a limit kept for the garbage collector and
// memory outside Go's heap: with a quarter, the live heap stays at most
// three quarters of the soft limit, so collections stay cheap.
func runtimeShare(limit Bytes) Bytes { return limit / 4 }

// softLimit leaves out of Go's limit what Go does not count (the mapped
// program, the OS's thread stacks) and the collector's lag: a tenth, at
// least 32 MiB. Measured, RSS peaks about 17 MiB above the soft limit.
func softLimit(limit Bytes) Bytes { return roundDownMiB(limit - max(limit/10, 32*mib)) }

// minLimit is the smallest limit that holds one part, a read-ahead block
// and minSessions besides base and runtime.
func minLimit(partSize, readAheadBlock Bytes) Bytes {
	return roundUpMiB((baseMemory + partSize + readAheadBlock + minSessions*SessionBuffers) * 4 / 3)
}

func roundUpMiB(b Bytes) Bytes   { return (b + mib - 1) / mib * mib }
func roundDownMiB(b Bytes) Bytes { return b / mib * mib }
