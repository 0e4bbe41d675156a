package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/inventory"
)

// checkConfig validates a config file: exit 0 when valid, else 1 with one
// FILE:LINE:COL: message line per problem.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("check-config", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.LoadIn(path, container())
	if err != nil {
		printConfigErrors(stdout, err)
		return 1
	}
	for _, w := range keyWarnings(cfg, time.Now(), inventory.ExpiryAhead) {
		fmt.Fprintln(stdout, w)
	}
	fmt.Fprintln(stdout, cfg.Memory)
	fmt.Fprintf(stdout, "%s: ok (%d users)\n", path, len(cfg.Users))
	return 0
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
