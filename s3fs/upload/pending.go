package upload

import (
	"strings"
	"sync"
)

// DefaultTempSuffixes are the temporary names of WinSCP and rclone. "*"
// stands for one dot-free name segment (rclone's hash).
var DefaultTempSuffixes = []string{".filepart", ".*.partial"}

// ValidTempSuffix reports whether s is ".suffix" or ".*.suffix".
func ValidTempSuffix(s string) bool {
	rest, ok := strings.CutPrefix(s, ".*.")
	if !ok {
		rest, ok = strings.CutPrefix(s, ".")
	}
	return ok && rest != "" && !strings.ContainsAny(rest, "*/")
}

// TempNames are the suffixes of the temporary names clients upload to and
// then rename onto their final name (see ValidTempSuffix).
type TempNames []string

// Final is the name a temporary file will be renamed to ("a/b.filepart"
// → "a/b"), and false for other names.
func (n TempNames) Final(p string) (string, bool) {
	for _, s := range n {
		if wild, ok := strings.CutPrefix(s, ".*"); ok {
			rest, ok := strings.CutSuffix(p, wild)
			i := strings.LastIndexByte(rest, '.')
			if ok && i > 0 && i < len(rest)-1 && !strings.Contains(rest[i:], "/") && rest[i-1] != '/' {
				return rest[:i], true
			}
			continue
		}
		if rest, ok := strings.CutSuffix(p, s); ok && rest != "" && !strings.HasSuffix(rest, "/") {
			return rest, true
		}
	}
	return "", false
}

// Is reports whether p is a temporary name.
func (n TempNames) Is(p string) bool {
	_, ok := n.Final(p)
	return ok
}

// Table holds the uploads closed under a temporary name and not yet
// renamed, by bucket and temporary key: what a rename completes and a
// resume goes on with (s3fs's pending.go says when). It lives in the
// gateway process: a resume must reach the same gateway, before it restarts.
type Table struct {
	mu sync.Mutex
	m  map[string]*Upload
}

func pendingID(bucket, tempKey string) string { return bucket + "\x00" + tempKey }

// Put files u, closed under its temporary name.
func (t *Table) Put(u *Upload) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*Upload{}
	}
	t.m[pendingID(u.s.Bucket(), u.tempKey)] = u
}

// Take removes and returns the pending upload of tempKey, if any.
func (t *Table) Take(bucket, tempKey string) *Upload {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := pendingID(bucket, tempKey)
	u := t.m[id]
	delete(t.m, id)
	return u
}

// Info describes the pending upload of tempKey for stat.
func (t *Table) Info(bucket, tempKey string) (Info, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.m[pendingID(bucket, tempKey)]
	if !ok {
		return Info{}, false
	}
	return u.pendingInfo(), true
}

// Under lists the pending uploads whose temporary keys sit directly in dir
// (a key prefix ending in "/"), as temporary keys → file info.
func (t *Table) Under(bucket, dir string) map[string]Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	found := map[string]Info{}
	for id, u := range t.m {
		b, key, _ := strings.Cut(id, "\x00")
		if rest, ok := strings.CutPrefix(key, dir); b == bucket && ok && !strings.Contains(rest, "/") {
			found[key] = u.pendingInfo()
		}
	}
	return found
}

// DropUploadID forgets a pending upload the orphan sweep aborted.
func (t *Table) DropUploadID(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, u := range t.m {
		if u.uploadID == id {
			delete(t.m, k)
		}
	}
}
