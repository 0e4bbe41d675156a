package ops

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/s3sftpd/s3sftpd/store"
)

// Lister is the one S3 call NameIndex makes (*store.Store has it).
type Lister interface {
	Walk(ctx context.Context, bucket, prefix string, each func(store.Object)) error
}

// NameIndex lists every object in homes (the users' homes, where the
// trail's paths are rooted) and maps the hash of each name a trail with
// paths = "hmac" can hold for it (hash is audit.HashName with the trail's
// key) to that name: the object key, the SFTP path in its home
// ("/" + the key below the prefix) and the directories above it. A report
// shows the real name where the trail's hash is one of these; names of
// files deleted or renamed since are not in S3 and stay hashed. It reads
// S3 only through l's listing, a page at a time.
func NameIndex(ctx context.Context, l Lister, homes []Prefix, hash func(string) string) (map[string]string, error) {
	names := map[string]string{}
	add := func(name string) {
		if name != "" {
			names[hash(name)] = name
		}
	}
	for _, h := range homes {
		add("/")
		err := l.Walk(ctx, h.Bucket, h.Prefix, func(o store.Object) {
			add(o.Key)
			add(strings.TrimSuffix(o.Key, "/"))
			for dir := "/" + strings.Trim(strings.TrimPrefix(o.Key, h.Prefix), "/"); dir != "/" && dir != "."; dir = path.Dir(dir) {
				add(dir)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", h.Bucket, h.Prefix, err)
		}
	}
	return names, nil
}
