// Command s3sftpd is an SFTP server that stores files in S3. This file only
// parses flags and wires the packages together; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage:
  s3sftpd serve -config FILE          run the server (also: s3sftpd -config FILE)
  s3sftpd check-config -config FILE [-v]
                                      validate a config; one line per problem as FILE:LINE:COL: message;
                                      -v prints each user's tree (path → bucket/prefix [permissions])
  s3sftpd doctor -config FILE         check the buckets' S3 settings for PHI (table; exit 1 on any FAIL)
  s3sftpd presign -config FILE -user NAME PATH [-ttl 5m]
                                      print a presigned GET URL for a file in the user's home (audited in presign.jsonl)
  s3sftpd audit verify [-hmac-key-file F] [-checkpoint F] FILE...
                                      check an audit trail (files in any order); exit 0 intact, 1 broken, 2 usage or unreadable
  s3sftpd audit report [-hmac-key-file F] [-checkpoint F] [-user U]... [-since T] [-until T]
                       [-format text|csv|json|html] [-o FILE] [-resolve-names -config F] FILE...
                                      the verified trail as an activity report; exit codes as audit verify
  s3sftpd users -config FILE [-trail FILE...] [-format text|json|csv]
                                      list every login: folders, auth methods, keys (flagged when expiring or unused), trusted CAs, last logins
  s3sftpd hash-password               read a password (terminal or stdin), print its argon2id hash for password_hash
  s3sftpd decrypt -config FILE s3://BUCKET/KEY > FILE
  s3sftpd decrypt -config FILE -out DIR s3://BUCKET/PREFIX/
                                      plaintext of envelope-encrypted objects, with only the store and the KEK
  s3sftpd rewrap -config FILE [s3://BUCKET/PREFIX]
                                      re-wrap data keys under the current kek_file (default: every user's home)
  s3sftpd version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "check-config":
		return checkConfig(args, stdout, stderr)
	case "doctor":
		return doctorCmd(context.Background(), args, stdout, stderr)
	case "presign":
		return presignCmd(context.Background(), args, stdout, stderr)
	case "audit":
		return auditCmd(args, stdout, stderr)
	case "users":
		return usersCmd(args, stdout, stderr)
	case "hash-password":
		return hashPassword(args, os.Stdin, stdout, stderr)
	case "decrypt":
		return decryptCmd(args, stdout, stderr)
	case "rewrap":
		return rewrapCmd(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "s3sftpd", version)
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "s3sftpd: unknown command %q\n%s", cmd, usage)
	return 2
}

// configFlag parses the -config flag every subcommand takes.
func configFlag(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path of the TOML config file")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "s3sftpd %s: -config FILE is required\n%s", name, usage)
		return "", false
	}
	return *path, true
}

var errInvalidConfig = errors.New("invalid config")
