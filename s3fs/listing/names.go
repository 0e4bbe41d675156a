package listing

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/store"
)

// Name is what a look at a folder showed of one name.
type Name struct {
	File bool // an object has the key: a HEAD tells its size and times
	Dir  bool // keys live under key+"/", or its marker does
}

// fresh is how long a look answers for: long enough for a batch of
// uploads to open its next files, short enough that a directory another
// session makes meanwhile is soon seen.
const fresh = time.Second

// lookKeys is a look's page: a batch's next hundred names, in a page small
// enough that a single upload into a large folder barely pays for it.
const lookKeys = 100

// Names is one session's last look at a stretch of a folder: one listing
// from just after the name an upload opens, kept for a second, so that the
// next opens of a batch (OpenSSH's put of many files, which opens each
// without a stat, in sorted order; any order in a folder of fewer than a
// hundred names) need not ask S3 whether a file or a directory has their
// name. Only opens for writing read it. There a stale "nothing" loses
// nothing: the commit's If-None-Match still refuses a file another writer
// stored meanwhile where overwriting is not allowed; only a directory made
// elsewhere in that second is not seen, as it is not when it comes a moment
// after the open. Stats and reads always ask S3. A name this session
// changed since is not answered (Forget, Reset). The zero value is ready; it
// holds at most lookKeys names, and the names stored while they are fresh.
type Names struct {
	mu       sync.Mutex
	bucket   string
	folder   string          // the folder's prefix, with its "/"
	after    string          // the listing began after this key
	through  string          // and showed every key up to this one; "" when it reached the folder's end
	names    map[string]Name // key (a directory's without its "/") → what it is
	forgot   map[string]bool // keys this session changed since
	lookedAt time.Time
}

// Known answers for key from the last look, when that covered key, is
// fresh and saw key as it still is.
func (n *Names) Known(bucket, key string) (Name, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names == nil || time.Since(n.lookedAt) > fresh {
		n.names, n.forgot = nil, nil
		return Name{}, false
	}
	covered := bucket == n.bucket && folderOf(key) == n.folder && key > n.after &&
		(n.through == "" || key+"/" <= n.through) // the directory key+"/" sorts after key
	if !covered || n.forgot[key] {
		return Name{}, false
	}
	return n.names[key], true
}

// Look lists key's folder from just after key, keeps what it shows, and
// answers whether key is a directory (key+"/" sorts after key; key itself
// is not listed).
func (n *Names) Look(ctx context.Context, obj store.Objects, bucket, key string) (dir bool, err error) {
	folder := folderOf(key)
	out, err := obj.List(ctx, store.ListRequest{Bucket: bucket, Prefix: folder, Delimiter: "/", StartAfter: key, MaxKeys: lookKeys})
	if err != nil {
		return false, err
	}
	names := make(map[string]Name, len(out.Objects)+len(out.Prefixes))
	last := ""
	for _, p := range out.Prefixes {
		names[strings.TrimSuffix(p, "/")] = Name{Dir: true}
		last = max(last, p)
	}
	for _, o := range out.Objects {
		if d, marker := strings.CutSuffix(o.Key, "/"); marker { // a marker listed as an object, as the embedded store does
			names[d] = Name{Dir: true, File: names[d].File}
		} else {
			names[o.Key] = Name{File: true, Dir: names[o.Key].Dir}
		}
		last = max(last, o.Key)
	}
	if out.NextToken == "" {
		last = ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.bucket, n.folder, n.after, n.through, n.names, n.forgot = bucket, folder, key, last, names, nil
	n.lookedAt = time.Now()
	return names[key].Dir, nil
}

// Forget stops answering for key: this session has just stored it.
func (n *Names) Forget(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names == nil { // no look to answer from
		return
	}
	if n.forgot == nil {
		n.forgot = map[string]bool{}
	}
	n.forgot[key] = true
}

// Reset forgets the last look: this session renamed, removed or made
// something, which may be anywhere below it.
func (n *Names) Reset() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.names, n.forgot = nil, nil
}

// folderOf is the prefix of the folder key is in: up to its last "/".
func folderOf(key string) string {
	return key[:strings.LastIndex(key, "/")+1]
}
