package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/inventory"
	"github.com/s3sftpd/s3sftpd/memlimit"
)

// checkConfig validates a config file: exit 0 when valid, else 1 with one
// FILE:LINE:COL: message line per problem. With -v it prints each user's
// resolved tree, so an admin sees what the group templates produced.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path of the TOML config file")
	verbose := fs.Bool("v", false, "print each user's tree: path → bucket/prefix [permissions]")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "s3sftpd check-config: -config FILE is required\n%s", usage)
		return 2
	}
	cfg, err := config.LoadIn(*path, memlimit.Container())
	if err != nil {
		printConfigErrors(stdout, err)
		return 1
	}
	for _, w := range keyWarnings(cfg, time.Now(), inventory.ExpiryAhead) {
		fmt.Fprintln(stdout, w)
	}
	if *verbose {
		printTrees(stdout, cfg)
	}
	fmt.Fprintln(stdout, cfg.Memory)
	fmt.Fprintf(stdout, "%s: ok (%d users)\n", *path, len(cfg.Users))
	return 0
}

// printTrees prints every user's tree, one place a line.
func printTrees(w io.Writer, cfg *config.Config) {
	for _, u := range cfg.Users {
		fmt.Fprintf(w, "user %s", u.Name)
		if len(u.Groups) > 0 {
			fmt.Fprintf(w, " (groups %s)", strings.Join(u.Groups, ", "))
		}
		fmt.Fprintln(w, ":")
		if u.Home == "" {
			fmt.Fprintln(w, "  / → (no home: lists the folders, refuses writes)")
		}
		for _, m := range u.Tree {
			fmt.Fprintf(w, "  %s → %s/%s [%s]%s\n", m.Path, m.Bucket, m.Prefix, m.Perms, m.Lifecycle)
		}
	}
}

func printConfigErrors(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, line := range errs.Lines() {
			fmt.Fprintln(w, line)
		}
		return
	}
	fmt.Fprintln(w, err)
}
