package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/report"
)

// auditCmd runs `s3sftpd audit SUBCOMMAND`: verify or report.
func auditCmd(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) > 0 && args[0] == "verify":
		return auditVerify(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "report":
		return auditReport(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "s3sftpd audit: want the subcommand verify or report\n%s", usage)
	return 2
}

// auditVerify checks audit trail files: exit 0 with a one-line summary when
// they form an unbroken trail, 1 with FILE:LINE: seq N: problem at the first
// break, 2 for usage errors and unreadable files.
func auditVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("hmac-key-file", "", "the trail's HMAC key (audit.hmac_key_file): every record's MAC must verify")
	cpFile := fs.String("checkpoint", "", "a checkpoint line the trail must hold (default: FILE.checkpoint beside each FILE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "s3sftpd audit verify: name the trail's files\n%s", usage)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "s3sftpd audit verify: %v\n", err)
		return 2
	}
	opts, err := report.ReadOptions(*keyFile, *cpFile, fs.Args())
	if err != nil {
		return fail(err)
	}
	var inputs []audit.VerifyInput
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return fail(fmt.Errorf("open audit file: %w", err))
		}
		defer f.Close()
		inputs = append(inputs, audit.VerifyInput{Name: name, R: f})
	}
	rep, err := audit.Verify(inputs, opts)
	var broken *audit.VerifyError
	switch {
	case errors.As(err, &broken):
		fmt.Fprintln(stdout, broken.Error())
		return 1
	case err != nil:
		return fail(err)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	v := report.Verification{OK: true, Records: rep.Records, FirstSeq: rep.FirstSeq, LastSeq: rep.LastSeq, Files: rep.Files,
		MACChecked: rep.MACChecked, Checkpoints: len(opts.Checkpoints), CheckpointSeq: rep.CheckpointSeq}
	fmt.Fprintln(stdout, v.Statement()) // one line: what was verified, and what could not be
	return 0
}
