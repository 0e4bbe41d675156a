package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/internal/tryout"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/ops"
	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/store"
)

// decryptCmd is `s3sftpd decrypt`: plaintext of one object to stdout, or of
// every object under a prefix into a directory. It needs only the store and
// the KEK of the config, never a running gateway.
func decryptCmd(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("decrypt", flag.ContinueOnError)
	fset.SetOutput(stderr)
	path := fset.String("config", "", "path of the TOML config file (its [s3] and [encryption] are used)")
	out := fset.String("out", "", "directory to decrypt every object under s3://BUCKET/PREFIX/ into")
	if err := fset.Parse(args); err != nil {
		return 2
	}
	bucket, key, ok := parseS3URL(fset.Arg(0))
	isPrefix := key == "" || strings.HasSuffix(key, "/")
	if *path == "" || fset.NArg() != 1 || !ok || isPrefix != (*out != "") {
		fmt.Fprintf(stderr, "usage: s3sftpd decrypt -config FILE s3://BUCKET/KEY > FILE\n       s3sftpd decrypt -config FILE -out DIR s3://BUCKET/PREFIX/\n")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, closeStore, err := openStore(ctx, *path)
	if err != nil {
		fmt.Fprintf(stderr, "s3sftpd decrypt: %v\n", err)
		return 1
	}
	defer closeStore()
	if *out == "" {
		if err := st.Decrypt(ctx, bucket, key, stdout); err != nil {
			fmt.Fprintf(stderr, "s3sftpd decrypt: %v\n", err)
			return 1
		}
		return 0
	}
	return decryptTree(ctx, st, bucket, key, *out, stdout, stderr)
}

// decryptTree writes every object under prefix to dir (ops.Store.DecryptTree),
// printing each name written and each failure as it goes.
func decryptTree(ctx context.Context, st ops.Store, bucket, prefix, dir string, stdout, stderr io.Writer) int {
	failed := 0
	n, err := st.DecryptTree(ctx, bucket, prefix, dir,
		func(name string) { fmt.Fprintln(stdout, name) },
		func(err error) { fmt.Fprintf(stderr, "s3sftpd decrypt: %v\n", err); failed++ })
	if err != nil {
		fmt.Fprintf(stderr, "s3sftpd decrypt: %v\n", err)
		return 1
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "s3sftpd decrypt: %d of %d objects failed\n", failed, n)
		return 1
	}
	return 0
}

// rewrapCmd is `s3sftpd rewrap`: move every data key to the current key
// (kms_key_id, else kek_file) and format version, in the given prefix or
// every user's home, and report the older versions that still need an old key.
func rewrapCmd(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("rewrap", flag.ContinueOnError)
	fset.SetOutput(stderr)
	path := fset.String("config", "", "path of the TOML config file")
	if err := fset.Parse(args); err != nil {
		return 2
	}
	bucket, prefix, ok := parseS3URL(fset.Arg(0))
	if *path == "" || fset.NArg() > 1 || fset.NArg() == 1 && !ok {
		fmt.Fprintf(stderr, "usage: s3sftpd rewrap -config FILE [s3://BUCKET/PREFIX]\n")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, closeStore, err := openStore(ctx, *path)
	if err != nil {
		fmt.Fprintf(stderr, "s3sftpd rewrap: %v\n", err)
		return 1
	}
	defer closeStore()
	cfg, _ := config.Load(*path) // loaded by openStore already
	prefixes := homes(cfg)
	if fset.NArg() == 1 {
		prefixes = []ops.Prefix{{Bucket: bucket, Prefix: prefix}}
	}
	files := kekFiles(cfg.Encryption)
	code := 0
	for _, p := range prefixes {
		res, err := st.Rewrap(ctx, p.Bucket, p.Prefix, homesIn(cfg, p.Bucket))
		for _, line := range res.Lines(files) {
			fmt.Fprintf(stdout, "s3://%s/%s: %s\n", p.Bucket, p.Prefix, line)
		}
		if err != nil {
			fmt.Fprintf(stderr, "s3sftpd rewrap: %v\n", err)
			code = 1
		}
	}
	return code
}

// kekFiles maps the id of each KEK in the config to its file, so a report
// can say which file holds a key it names by id.
func kekFiles(e config.Encryption) map[string]string {
	files := map[string]string{}
	if e.KEK != nil {
		files[objfmt.KeyID(e.KEK)] = e.KEKFile
	}
	for i, k := range e.OldKEKs {
		files[objfmt.KeyID(k)] = e.OldKEKFiles[i]
	}
	return files
}

// homesIn lists the homes of the users whose files live in bucket.
func homesIn(cfg *config.Config, bucket string) []string {
	var out []string
	for _, p := range homes(cfg) {
		if p.Bucket == bucket {
			out = append(out, p.Prefix)
		}
	}
	return out
}

// parseS3URL splits s3://bucket/key.
func parseS3URL(u string) (bucket, key string, ok bool) {
	rest, found := strings.CutPrefix(u, "s3://")
	if !found {
		return "", "", false
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, bucket != ""
}

// openStore reaches the store of the config at path with its keys, starting
// the embedded store when the config uses it (the gateway must be stopped).
func openStore(ctx context.Context, path string) (ops.Store, func(), error) {
	cfg, err := config.Load(path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			return ops.Store{}, nil, fmt.Errorf("%w:\n%s", errInvalidConfig, strings.Join(errs.Lines(), "\n"))
		}
		return ops.Store{}, nil, err
	}
	s3cfg := s3Config(cfg)
	if err := setEncryption(ctx, &s3cfg, cfg.Encryption); err != nil {
		return ops.Store{}, nil, err
	}
	closeStore := func() {}
	if cfg.S3.Endpoint == config.EndpointEmbedded {
		store, err := tryout.Start(cfg.Embedded.Dir, buckets(cfg)...)
		if err != nil {
			return ops.Store{}, nil, err
		}
		closeStore = func() { store.Close(context.WithoutCancel(ctx)) }
		s3cfg.Endpoint, s3cfg.PathStyle = store.Endpoint, true
		s3cfg.AccessKeyID, s3cfg.SecretAccessKey = "embedded", "embedded"
	}
	st, err := store.Dial(ctx, s3cfg.Config)
	if err == nil {
		var fsys *s3fs.FS
		if fsys, err = s3fs.New(st.Objects(), s3cfg, slog.New(slog.DiscardHandler)); err == nil {
			return ops.Store{S3: st, FS: fsys}, closeStore, nil
		}
	}
	closeStore()
	return ops.Store{}, nil, err
}
