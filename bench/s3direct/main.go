// Command s3direct puts a local file to S3 and gets it back with the SDK, the
// way a careful user would without the gateway: a multipart upload with the
// gateway's part size, parts in flight and server-side encryption, and one
// streaming GET. It is bench/run.sh's baseline for s3sftpd.
//
// Credentials come from the AWS default chain (run.sh sets AWS_ACCESS_KEY_ID
// and AWS_SECRET_ACCESS_KEY). The client is built by store.Dial, so both paths
// use the same HTTP transport, retries and checksum mode. It is the one
// command that calls the SDK's S3 requests itself (through store.S3, the
// interface s3fs takes): the baseline must not go through the code it is
// measured against.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/s3sftpd/s3sftpd/store"
)

const (
	partSize      = 16 << 20 // s3.part_size default
	partsInFlight = 4        // s3fs/upload.go partsInFlight
)

func main() {
	var (
		endpoint  = flag.String("endpoint", "", "S3 endpoint URL; empty means AWS")
		region    = flag.String("region", "us-east-1", "region")
		bucket    = flag.String("bucket", "", "bucket (required)")
		key       = flag.String("key", "s3direct/bench.bin", "object key")
		file      = flag.String("file", "", "local file to put (for put and both)")
		out       = flag.String("out", os.DevNull, "where get writes the object")
		op        = flag.String("op", "both", "put, get, both (put then get), putdir (every file of the directory -file, one after another, under -key/), fill (-n empty objects under -key/, 32 at once), list (page through ListObjectsV2 of -key/ with delimiter /), or mb (create the bucket)")
		n         = flag.Int("n", 1000, "objects fill puts")
		checksums = flag.String("checksums", store.ChecksumsCompat, "aws or compat, as s3.checksums")
	)
	flag.Parse()
	if *bucket == "" || (*file == "" && (*op == "put" || *op == "both" || *op == "putdir")) {
		flag.Usage()
		os.Exit(2)
	}
	ctx := context.Background()
	st, err := store.Dial(ctx, store.Config{
		Endpoint: *endpoint, Region: *region, PathStyle: true,
		SSE: store.SSEAES256, Checksums: *checksums,
	})
	if err != nil {
		fail(err)
	}
	client := st.S3()
	switch *op {
	case "mb":
		if err := st.MakeBucket(ctx, *bucket); err != nil {
			fail(err)
		}
	case "put":
		timed("put", func() (int64, error) { return put(ctx, client, *bucket, *key, *file) })
	case "get":
		timed("get", func() (int64, error) { return get(ctx, client, *bucket, *key, *out) })
	case "putdir":
		timed("putdir", func() (int64, error) { return putDir(ctx, client, *bucket, *key, *file) })
	case "fill":
		timed("fill", func() (int64, error) { return fill(ctx, client, *bucket, *key, *n) })
	case "list":
		if err := list(ctx, client, *bucket, *key); err != nil {
			fail(err)
		}
	case "both":
		timed("put", func() (int64, error) { return put(ctx, client, *bucket, *key, *file) })
		timed("get", func() (int64, error) { return get(ctx, client, *bucket, *key, *out) })
	default:
		fail(fmt.Errorf("unknown -op %q", *op))
	}
}

// timed runs f and prints "OP BYTES SECONDS MB/s" (MB = 10^6 bytes).
func timed(op string, f func() (int64, error)) {
	start := time.Now()
	n, err := f()
	if err != nil {
		fail(err)
	}
	s := time.Since(start).Seconds()
	fmt.Printf("%s %d bytes %.3f s %.1f MB/s\n", op, n, s, float64(n)/s/1e6)
}

// fill puts n empty objects prefix/f0000000…, 32 at once: the folder a
// listing bench lists, as a hospital's system fills it straight in S3.
func fill(ctx context.Context, c store.S3, bucket, prefix string, n int) (int64, error) {
	var g errgroup.Group
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			key := fmt.Sprintf("%s/f%07d", prefix, i)
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(""), ContentLength: aws.Int64(0)})
			return err
		})
	}
	return 0, g.Wait()
}

// list pages through ListObjectsV2 of prefix/ with delimiter "/", 1000 keys
// a page, as a listing through the gateway does, and prints "list N entries
// FIRST s first page TOTAL s".
func list(ctx context.Context, c store.S3, bucket, prefix string) error {
	start := time.Now()
	var first time.Duration
	entries := 0
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix + "/"), Delimiter: aws.String("/")}
	for {
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("list %s/: %w", prefix, err)
		}
		if first == 0 {
			first = time.Since(start)
		}
		entries += len(out.Contents) + len(out.CommonPrefixes)
		if out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	fmt.Printf("list %d entries %.3f s first page %.3f s\n", entries, first.Seconds(), time.Since(start).Seconds())
	return nil
}

// putDir puts every file in dir as prefix/NAME, one after another, as a
// script copying a folder of small files would.
func putDir(ctx context.Context, c store.S3, bucket, prefix, dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, e := range entries {
		n, err := put(ctx, c, bucket, prefix+"/"+e.Name(), dir+"/"+e.Name())
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// put uploads path as key: one PutObject when it fits in a part, otherwise a
// multipart upload with partsInFlight parts at once, each read straight from
// the file.
func put(ctx context.Context, c store.S3, bucket, key, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size <= partSize {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &bucket, Key: &key, Body: io.NewSectionReader(f, 0, size), ContentLength: aws.Int64(size),
			ServerSideEncryption: types.ServerSideEncryptionAes256,
		})
		if err != nil {
			return 0, fmt.Errorf("put %s: %w", key, err)
		}
		return size, nil
	}

	mpu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &bucket, Key: &key, ServerSideEncryption: types.ServerSideEncryptionAes256,
	})
	if err != nil {
		return 0, fmt.Errorf("create multipart upload %s: %w", key, err)
	}
	nparts := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, nparts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partsInFlight)
	for i := range nparts {
		off := int64(i) * partSize
		n := min(partSize, size-off)
		g.Go(func() error {
			out, err := c.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: &bucket, Key: &key, UploadId: mpu.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				Body: io.NewSectionReader(f, off, n), ContentLength: aws.Int64(n),
			})
			if err != nil {
				return fmt.Errorf("upload part %d of %s: %w", i+1, key, err)
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: mpu.UploadId})
		return 0, err
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: mpu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return 0, fmt.Errorf("complete upload %s: %w", key, err)
	}
	return size, nil
}

// get streams key to path with one GET, as the gateway's downloads do.
func get(ctx context.Context, c store.S3, bucket, key, path string) (int64, error) {
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, obj.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("get %s: %w", key, err)
	}
	return n, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "s3direct:", err)
	os.Exit(1)
}
