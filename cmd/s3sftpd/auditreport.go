package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"

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
	fs := flag.NewFlagSet("audit report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("hmac-key-file", "", "the trail's HMAC key (audit.hmac_key_file): every record's MAC must verify")
	cpFile := fs.String("checkpoint", "", "a checkpoint line the trail must hold (default: FILE.checkpoint beside each FILE)")
	var users multiFlag
	fs.Var(&users, "user", "only this user's rows and summary (repeat for more)")
	since := fs.String("since", "", "only rows at or after this time (RFC 3339, or a date: UTC midnight)")
	until := fs.String("until", "", "only rows before this time (RFC 3339, or a date)")
	format := fs.String("format", report.FormatText, "text, csv, json or html")
	out := fs.String("o", "", "write the report to this file (mode 0600) instead of standard output")
	resolve := fs.Bool("resolve-names", false, `with paths = "hmac": show the real names of files still in the users' homes (needs -config)`)
	cfgPath := fs.String("config", "", "the gateway's config, for -resolve-names: its S3 store, users and audit key")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "s3sftpd audit report: "+format+"\n%s", append(a, usage)...)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "s3sftpd audit report: %v\n", err)
		return 2
	}
	o := report.Options{Format: *format, Users: users}
	var err error
	switch {
	case fs.NArg() == 0:
		return usageErr("name the trail's files")
	case !strings.Contains(" "+strings.Join(report.Formats, " ")+" ", " "+*format+" "):
		return usageErr("-format %q: want text, csv, json or html", *format)
	case *resolve != (*cfgPath != ""):
		return usageErr("-resolve-names and -config go together")
	}
	if *since != "" {
		if o.Since, err = report.ParseTime(*since); err != nil {
			return usageErr("-since: %v", err)
		}
	}
	if *until != "" {
		if o.Until, err = report.ParseTime(*until); err != nil {
			return usageErr("-until: %v", err)
		}
	}
	opts, err := verifyOptions(*keyFile, *cpFile, fs.Args())
	if err != nil {
		return fail(err)
	}
	if *resolve {
		if o.Names, err = resolveNames(*cfgPath); err != nil {
			return fail(err)
		}
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
	// The report's live heap is small (users, days, open sessions) and its
	// garbage is per record: collecting at 5× the live heap instead of 2×
	// cuts a third of its CPU for a few tens of MB.
	debug.SetGCPercent(400)
	v, err := report.Write(w, report.Trail{Open: report.OpenFiles(fs.Args()), Verify: opts}, o)
	if err != nil {
		return fail(err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Close(); err != nil {
			return fail(fmt.Errorf("write report: %w", err))
		}
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
	cfg, err := config.Load(path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			return nil, fmt.Errorf("%w:\n%s", errInvalidConfig, strings.Join(errs.Lines(), "\n"))
		}
		return nil, err
	}
	if cfg.Audit.Paths != config.AuditPathsHMAC || len(cfg.Audit.HMACKey) == 0 {
		return nil, fmt.Errorf(`-resolve-names: %s does not hash names (audit.paths is not "hmac")`, path)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, closeStore, err := openStore(ctx, path)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	var hs []ops.Home
	for _, p := range homes(cfg) {
		hs = append(hs, ops.Home{Bucket: p.Bucket, Prefix: p.Prefix})
	}
	key := cfg.Audit.HMACKey
	return ops.NameIndex(ctx, st.S3, hs, func(s string) string { return audit.HashName(key, s) })
}

// multiFlag is a flag that may be given more than once.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
