// Command trailgen writes a synthetic audit trail of about -records records
// through the audit package itself (so the chain, MACs, segments and
// checkpoint are the real ones), for bench/report.sh: sessions of -users
// partners that log in, list, upload and download, with a failed login now
// and then, a record every -step of simulated time.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

func main() {
	file := flag.String("file", "", "the live audit file to write (its directory gets the segments)")
	records := flag.Int("records", 1_000_000, "how many records, at least")
	users := flag.Int("users", 20, "how many partners")
	keyFile := flag.String("hmac-key-file", "", "key the MACs with this file's content")
	rotate := flag.Int64("rotate-size", 256<<20, "segment size in bytes")
	step := flag.Duration("step", 50*time.Millisecond, "simulated time between records")
	flag.Parse()
	if *file == "" {
		fmt.Fprintln(os.Stderr, "usage: trailgen -file FILE [-records N] [-users N] [-hmac-key-file F]")
		os.Exit(2)
	}
	var key []byte
	if *keyFile != "" {
		var err error
		if key, err = os.ReadFile(*keyFile); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	now := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(*step); return now }
	l, err := audit.Open(audit.Config{File: *file, HMACKey: key, RotateSize: *rotate, Now: clock})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := write(l, *records, *users); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := l.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// write records sessions until at least n records are written: each a
// connect, an auth (every tenth one denied first), a list, an upload, a
// download and a disconnect.
func write(l *audit.Log, n, users int) error {
	sum := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	written := 2 // Open's segment_start and Close's checkpoint
	for i := 0; written < n; i++ {
		user := fmt.Sprintf("partner%02d", i%users)
		remote := fmt.Sprintf("192.0.2.%d:%d", i%250+1, 40000+i%20000)
		s := l.Session(fmt.Sprintf("%016x", i))
		recs := []audit.Record{{Event: audit.EventConnect, Result: audit.ResultOK, Remote: remote, Client: "SSH-2.0-OpenSSH_9.2p1"}}
		if i%10 == 0 {
			recs = append(recs, audit.Record{Event: audit.EventAuth, Result: audit.ResultDenied, User: user, Method: "publickey",
				KeyType: "ssh-ed25519", KeyFP: "SHA256:unknownunknownunknownunknownunknownunknown0", Reason: "unknown user or key"})
		}
		recs = append(recs, audit.Record{Event: audit.EventAuth, Result: audit.ResultOK, User: user, Method: "publickey",
			KeyType: "ssh-ed25519", KeyFP: "SHA256:uR4Zb7cZ3fS1tq1E0uM3mJ9yVt4b0Q8m1d2s3a4f5g6"})
		path := fmt.Sprintf("/in/lab-results-%07d.csv", i)
		key := fmt.Sprintf("partners/%s%s", user, path)
		recs = append(recs,
			audit.Record{Event: audit.EventList, Result: audit.ResultOK, Path: "/in"},
			audit.Record{Event: audit.EventOpen, Result: audit.ResultOK, Mode: "write", Path: path, Bucket: "phi-drop", Key: key},
			audit.Record{Event: audit.EventClose, Result: audit.ResultOK, Mode: "write", Path: path, Bucket: "phi-drop", Key: key,
				Bytes: audit.Int(int64(1000 + i%5000)), SHA256: sum, ETag: `"d41d8cd98f00b204e9800998ecf8427e"`, DurMS: audit.Int(12)},
			audit.Record{Event: audit.EventOpen, Result: audit.ResultOK, Mode: "read", Path: path, Bucket: "phi-drop", Key: key},
			audit.Record{Event: audit.EventClose, Result: audit.ResultOK, Mode: "read", Path: path, Bucket: "phi-drop", Key: key,
				Bytes: audit.Int(int64(1000 + i%5000)), SHA256: sum, DurMS: audit.Int(3)},
			audit.Record{Event: audit.EventDisconnect, Result: audit.ResultOK, Reason: "connection closed",
				DurMS: audit.Int(400), BytesIn: audit.Int(9000), BytesOut: audit.Int(8000)})
		for j, r := range recs {
			if j > 1 {
				s = s.WithUser(user)
			}
			if err := s.Record(r); err != nil {
				return err
			}
			written++
		}
	}
	return nil
}
