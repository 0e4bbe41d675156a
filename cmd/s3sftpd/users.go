package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/inventory"
)

// usersCmd prints the user and key inventory: exit 0, 1 when the config or
// a trail file cannot be read, 2 for usage errors. Trail files come after
// -trail, repeated or as further arguments (so a shell glob works).
func usersCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path of the TOML config file")
	format := fs.String("format", inventory.FormatText, "text, json or csv")
	var trail []string
	fs.Func("trail", "an audit trail file (the live file, a segment, or its S3 copy); repeat, or list more after the flags", func(f string) error {
		trail = append(trail, f)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(trail) > 0 {
		trail = append(trail, fs.Args()...)
	}
	switch {
	case *path == "":
		fmt.Fprintf(stderr, "s3sftpd users: -config FILE is required\n%s", usage)
		return 2
	case len(trail) == 0 && fs.NArg() > 0:
		fmt.Fprintf(stderr, "s3sftpd users: trail files go after -trail\n%s", usage)
		return 2
	case *format != inventory.FormatText && *format != inventory.FormatJSON && *format != inventory.FormatCSV:
		fmt.Fprintf(stderr, "s3sftpd users: -format %q: want text, json or csv\n", *format)
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	logins, err := inventoryLogins(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "s3sftpd users: %v\n", err)
		return 1
	}
	var usage *inventory.Usage
	if len(trail) > 0 {
		usage = inventory.NewUsage()
		for _, name := range trail {
			if err := readTrailFile(usage, name); err != nil {
				fmt.Fprintf(stderr, "s3sftpd users: %v\n", err)
				return 1
			}
		}
	}
	inv := inventory.Build(logins, cfg.Server.UserCAKeys, usage, time.Now())
	if err := inventory.Write(stdout, inv, *format); err != nil {
		fmt.Fprintf(stderr, "s3sftpd users: %v\n", err)
		return 1
	}
	return 0
}

func readTrailFile(u *inventory.Usage, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return u.Read(name, f)
}

// inventoryLogins is the config's user map with what the inventory shows
// beside it: key comments and sources, groups, and the tree (the home at
// "/" and the folders).
func inventoryLogins(cfg *config.Config) ([]inventory.Login, error) {
	var out []inventory.Login
	for _, u := range cfg.Users {
		au, err := authUser(cfg, u)
		if err != nil {
			return nil, err
		}
		l := inventory.Login{User: au, Groups: u.Groups}
		for _, m := range u.Tree {
			l.Folders = append(l.Folders, inventory.Folder{Path: m.Path, Bucket: m.Bucket, Prefix: m.Prefix, Perms: m.Perms})
		}
		for _, k := range u.PublicKeys {
			l.Comments = append(l.Comments, k.Comment)
			l.Sources = append(l.Sources, k.Source)
		}
		out = append(out, l)
	}
	return out, nil
}
