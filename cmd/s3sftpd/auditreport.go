package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/ops"
	"github.com/s3sftpd/s3sftpd/report"
)

// auditReport is `s3sftpd audit report`: the trail verified, then written
// as an activity report. Exit 0 when the chain holds, 1 when it breaks (the
// report then holds what precedes the break and says where), 2 for usage
// errors and files that cannot be read or written.
func auditReport(args []string, stdout, stderr io.Writer) int {
	var o report.Options
	fs := flag.NewFlagSet("audit report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("hmac-key-file", "", "the trail's HMAC key (audit.hmac_key_file): every record's MAC must verify")
	cpFile := fs.String("checkpoint", "", "a checkpoint line the trail must hold (default: FILE.checkpoint beside each FILE)")
	fs.Func("user", "only this user's rows and summary (repeat for more)", func(u string) error { o.Users = append(o.Users, u); return nil })
	fs.Func("since", "only rows at or after this time (RFC 3339, or a date: UTC midnight)", func(s string) (err error) { o.Since, err = report.ParseTime(s); return err })
	fs.Func("until", "only rows before this time (RFC 3339, or a date)", func(s string) (err error) { o.Until, err = report.ParseTime(s); return err })
	fs.StringVar(&o.Format, "format", report.FormatText, "text, csv, json or html")
	out := fs.String("o", "", "write the report to this file (mode 0600) instead of standard output")
	resolve := fs.Bool("resolve-names", false, `with paths = "hmac": show the real names of files still in the users' homes (needs -config)`)
	cfgPath := fs.String("config", "", "the gateway's config, for -resolve-names: its S3 store, users and audit key")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "s3sftpd audit report: %v\n", err)
		return 2
	}
	switch {
	case fs.NArg() == 0:
		return fail(fmt.Errorf("name the trail's files\n%s", usage))
	case *resolve != (*cfgPath != ""):
		return fail(fmt.Errorf("-resolve-names and -config go together\n%s", usage))
	}
	opts, err := report.ReadOptions(*keyFile, *cpFile, fs.Args())
	if err == nil && *resolve {
		o.Names, err = resolveNames(*cfgPath)
	}
	if err != nil {
		return fail(err)
	}
	w := stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fail(fmt.Errorf("create report: %w", err))
		}
		defer f.Close()
		w = f
	}
	// The live heap is small (users, days, open sessions), the garbage per
	// record: collecting at 5× the live heap cuts a third of the CPU.
	debug.SetGCPercent(400)
	v, err := report.Write(w, report.Trail{Open: report.OpenFiles(fs.Args()), Verify: opts}, o)
	if f, ok := w.(*os.File); ok && f != os.Stdout && err == nil {
		err = f.Close()
	}
	if err != nil {
		return fail(err)
	}
	if !v.OK {
		fmt.Fprintf(stderr, "s3sftpd audit report: chain broken: %s\n", v.Break)
		return 1
	}
	return 0
}

// resolveNames lists the homes of the config's users in its store and maps
// each name's hash, under the config's audit key, to the name.
func resolveNames(path string) (map[string]string, error) {
	ctx := context.Background()
	st, closeStore, err := openStore(ctx, path)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	cfg, _ := config.Load(path) // loaded by openStore already
	if cfg.Audit.Paths != config.AuditPathsHMAC || len(cfg.Audit.HMACKey) == 0 {
		return nil, fmt.Errorf(`-resolve-names: %s does not hash names (audit.paths is not "hmac")`, path)
	}
	key := cfg.Audit.HMACKey
	return ops.NameIndex(ctx, st.S3, homes(cfg), func(s string) string { return audit.HashName(key, s) })
}
