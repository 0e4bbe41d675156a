package ops

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Home is a user's home: where the trail's paths are rooted in S3.
type Home struct{ Bucket, Prefix string }

// NameIndex lists every object in homes and maps the hash of each name a
// trail with paths = "hmac" can hold for it (hash is audit.HashName with the
// trail's key) to that name: the object key, the SFTP path in its home
// ("/" + the key below the prefix) and the directories above it. A report
// shows the real name where the trail's hash is one of these; names of
// files deleted or renamed since are not in S3 and stay hashed. It reads
// S3 only through c's ListObjectsV2, page by page.
func NameIndex(ctx context.Context, c s3.ListObjectsV2APIClient, homes []Home, hash func(string) string) (map[string]string, error) {
	names := map[string]string{}
	add := func(name string) {
		if name != "" {
			names[hash(name)] = name
		}
	}
	for _, h := range homes {
		add("/")
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(h.Bucket), Prefix: aws.String(h.Prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list s3://%s/%s: %w", h.Bucket, h.Prefix, err)
			}
			for _, o := range page.Contents {
				key := aws.ToString(o.Key)
				add(key)
				add(strings.TrimSuffix(key, "/"))
				for dir := "/" + strings.Trim(strings.TrimPrefix(key, h.Prefix), "/"); dir != "/" && dir != "."; dir = path.Dir(dir) {
					add(dir)
				}
			}
		}
	}
	return names, nil
}
