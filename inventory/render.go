package inventory

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats of Write.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// Write renders inv as text (a table for a terminal), json (one document)
// or csv (RFC 4180 with a header row, one row per key).
func Write(w io.Writer, inv *Inventory, format string) error {
	switch format {
	case FormatText:
		return writeText(w, inv)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(inv)
	case FormatCSV:
		return writeCSV(w, inv)
	}
	return fmt.Errorf("unknown format %q (want text, json or csv)", format)
}

// csvHeader names the CSV columns. A row is a key of a user ("key"), a
// user without keys ("user"), or a trusted CA ("ca", no user).
var csvHeader = []string{"kind", "user", "groups", "folders", "auth_methods", "allow_from", "user_last_login",
	"key_type", "key_bits", "key_fingerprint", "key_comment", "key_source", "key_from", "key_expiry",
	"key_last_login", "key_last_login_remote", "flags"}

func writeCSV(w io.Writer, inv *Inventory) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for _, ca := range inv.TrustedCAs {
		cw.Write(keyRow([]string{"ca", "", "", "", "", "", ""}, ca))
	}
	for _, u := range inv.Users {
		userCols := []string{"key", u.Name, strings.Join(u.Groups, " "), folders(u.Folders, "; "), strings.Join(u.AuthMethods, " "),
			strings.Join(u.AllowFrom, " "), useTime(u.LastLogin)}
		if len(u.Keys) == 0 {
			userCols[0] = "user"
			cw.Write(keyRow(userCols, Key{}))
		}
		for _, k := range u.Keys {
			cw.Write(keyRow(userCols, k))
		}
	}
	cw.Flush()
	return cw.Error()
}

func keyRow(user []string, k Key) []string {
	row := append([]string{}, user...)
	bits := ""
	if k.Bits > 0 {
		bits = strconv.Itoa(k.Bits)
	}
	remote := ""
	if k.LastLogin != nil {
		remote = k.LastLogin.Remote
	}
	return append(row, k.Type, bits, k.Fingerprint, k.Comment, k.Source, strings.Join(k.From, ","), timeOf(k.Expiry),
		useTime(k.LastLogin), remote, strings.Join(k.Flags, " "))
}

func writeText(w io.Writer, inv *Inventory) error {
	keys, flagged := 0, 0
	for _, u := range inv.Users {
		keys += len(u.Keys)
		for _, k := range u.Keys {
			if len(k.Flags) > 0 {
				flagged++
			}
		}
	}
	fmt.Fprintf(w, "s3sftpd users at %s: %d users, %d keys (%d flagged), %d trusted user CAs\n",
		inv.Generated.Format(time.RFC3339), len(inv.Users), keys, flagged, len(inv.TrustedCAs))
	if t := inv.Trail; t != nil {
		fmt.Fprintf(w, "trail: %d records in %d files, %s to %s", t.Records, len(t.Files), timeOf(t.First), timeOf(t.Last))
		if t.Skipped > 0 {
			fmt.Fprintf(w, ", %d lines that are no record skipped (run s3sftpd audit verify)", t.Skipped)
		}
		fmt.Fprintln(w, "; last logins below are from it, not verified")
	} else {
		fmt.Fprintln(w, "trail: none read (-trail FILE... adds each key's last login)")
	}
	if len(inv.TrustedCAs) > 0 {
		fmt.Fprintln(w, "\ntrusted user CAs (their certificates log in as the users in their principals):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, ca := range inv.TrustedCAs {
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", ca.Type, ca.Bits, ca.Fingerprint)
		}
		tw.Flush()
	}
	for _, u := range inv.Users {
		fmt.Fprintf(w, "\n%s\n", u.Name)
		fmt.Fprintf(w, "  groups:     %s\n", orNone(strings.Join(u.Groups, ", "), "none"))
		auth := strings.Join(u.AuthMethods, " + ") // all of them, but a certificate stands in for a key
		fmt.Fprintf(w, "  auth:       %s\n", strings.Replace(auth, "publickey + certificate", "publickey (a listed key or a certificate)", 1))
		fmt.Fprintf(w, "  allow from: %s\n", orNone(strings.Join(u.AllowFrom, ", "), "any address"))
		for i, f := range u.Folders {
			label := "  folders:   "
			if i > 0 {
				label = "             "
			}
			fmt.Fprintf(w, "%s %s -> %s/%s [%s]\n", label, f.Path, f.Bucket, f.Prefix, orNone(strings.Join(f.Permissions, ","), "no permissions"))
		}
		if inv.Trail != nil {
			fmt.Fprintf(w, "  last login: %s\n", describeUse(u.LastLogin, true))
		}
		if len(u.Keys) == 0 {
			fmt.Fprintln(w, "  keys:       none")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TYPE\tBITS\tFINGERPRINT\tCOMMENT\tFROM\tEXPIRES\tLAST LOGIN\tFLAGS")
		for _, k := range u.Keys {
			last := "-"
			if inv.Trail != nil {
				last = describeUse(k.LastLogin, false)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Type, k.Bits, k.Fingerprint, orNone(k.Comment, "-"),
				orNone(strings.Join(k.From, ","), "-"), orNone(timeOf(k.Expiry), "never"), last, orNone(strings.Join(k.Flags, " "), "-"))
		}
		tw.Flush()
	}
	return nil
}

// describeUse is a login for the text table; with who, also how.
func describeUse(u *Use, who bool) string {
	if u == nil {
		return "never (in the trail read)"
	}
	s := u.Time.Format(time.RFC3339) + " from " + orNone(u.Remote, "an unknown address")
	if who {
		s += " (" + u.Method
		if u.KeyFP != "" {
			s += " " + u.KeyFP
		}
		if u.CertID != "" {
			s += " certificate " + strconv.Quote(u.CertID)
		}
		s += ")"
	}
	return s
}

func folders(fs []Folder, sep string) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s -> %s/%s [%s]", f.Path, f.Bucket, f.Prefix, strings.Join(f.Permissions, ",")))
	}
	return strings.Join(parts, sep)
}

func useTime(u *Use) string {
	if u == nil {
		return ""
	}
	return u.Time.Format(time.RFC3339)
}

func timeOf(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}
