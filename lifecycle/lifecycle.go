// Package lifecycle sweeps the folders whose files are kept for a while:
// it deletes the files older than a folder's retention (retention_delete)
// and records one not_picked_up for each file that has waited the
// folder's not_picked_up_after, at start-up and then every quarter of the
// shorter of the two (at least every 5 s, at most every 5 min). Several
// gateways may share a bucket: for each folder (bucket and prefix) they
// take turns through a lease object at the prefix (lease.go), so one sweeps
// it at a time and each deletion and notice is recorded once. It deletes
// exactly the version it listed (pickup.Delete), never a file uploaded
// since, and never the gateway's own objects (objfmt.Reserved). It runs
// with the gateway's own credentials, never a user's role, and must not
// import s3fs.
package lifecycle

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/pickup"
	"github.com/s3sftpd/s3sftpd/store"
)

// Bounds of a folder's sweep interval, a quarter of its shorter lifetime.
const (
	MinInterval = 5 * time.Second
	MaxInterval = 5 * time.Minute
)

// Trail is where the sweep's records go: the gateway's audit log, whose
// Err is non-nil while records cannot be written (then nothing is
// deleted, since a deletion would go unrecorded).
type Trail interface {
	Write(r audit.Record) error
	Err() error
}

// Config is what a Sweeper needs.
type Config struct {
	Objects store.Objects      // the gateway's own identity: no tenant in the context
	Trail   Trail              // *audit.Log
	Log     *slog.Logger       // operational log: counts, never names
	Users   func() *auth.Users // the users in force, read before each round (reloads)
	// Holder names this gateway in leases; "" is the host name, the
	// process id and a random suffix.
	Holder string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Names, when set, is the name cipher of a folder's prefix (nil for
	// plain names), so records show the names the user sees.
	Names func(bucket, prefix string) *objfmt.Names
}

// Place is one folder to sweep: its objects and how long they may stay.
type Place struct {
	Bucket, Prefix string
	// Folder is the folder's path and User the user whose place it is,
	// as the records name them; User is "" for a prefix several users
	// share (a group folder without {user}).
	Folder, User     string
	Retention        time.Duration // 0: no deletion
	NotPickedUpAfter time.Duration // 0: no notice
}

// Interval is how often p is swept: a quarter of its shorter lifetime, so
// a file is gone within a quarter of its retention after it ended.
func (p Place) Interval() time.Duration {
	d := p.Retention
	if p.NotPickedUpAfter > 0 && (d == 0 || p.NotPickedUpAfter < d) {
		d = p.NotPickedUpAfter
	}
	return min(max(d/4, MinInterval), MaxInterval)
}

// Places lists the folders of users that have a retention or a
// not_picked_up_after, once per bucket and prefix. A prefix several users
// share names no user, and takes the shortest lifetimes any of them has.
func Places(users []auth.User) []Place {
	var out []Place
	index := map[[2]string]int{} // bucket, prefix → its place in out
	for _, u := range users {
		for _, f := range u.Folders {
			lc := f.Lifecycle
			if lc.Retention == 0 && lc.NotPickedUpAfter == 0 {
				continue
			}
			i, ok := index[[2]string{f.Bucket, f.Prefix}]
			if !ok {
				index[[2]string{f.Bucket, f.Prefix}] = len(out)
				out = append(out, Place{Bucket: f.Bucket, Prefix: f.Prefix, Folder: f.Path, User: u.Name,
					Retention: lc.Retention, NotPickedUpAfter: lc.NotPickedUpAfter})
				continue
			}
			p := &out[i]
			if p.User != u.Name {
				p.User = ""
			}
			p.Retention, p.NotPickedUpAfter = shorter(p.Retention, lc.Retention), shorter(p.NotPickedUpAfter, lc.NotPickedUpAfter)
		}
	}
	return out
}

// shorter is the shorter of two lifetimes, 0 being none.
func shorter(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// Sweeper sweeps the places of the users in force in a goroutine it owns;
// Stop ends it.
type Sweeper struct {
	cfg    Config
	cancel context.CancelFunc
	wg     sync.WaitGroup
	due    map[string]time.Time // bucket + "\x00" + prefix → next sweep
	// failed are the files (bucket, key, ETag) whose deletion failed and
	// was recorded: a failure that lasts (a denied delete) is recorded
	// once, not at every sweep.
	failed map[[3]string]bool
}

// New returns a Sweeper of cfg, not yet started.
func New(cfg Config) *Sweeper {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		cfg.Holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	return &Sweeper{cfg: cfg, due: map[string]time.Time{}, failed: map[[3]string]bool{}}
}

// Start sweeps every place now, then each when its interval has passed,
// looking every MinInterval (so a folder a reload adds is swept within
// seconds), until ctx ends or Stop is called.
func Start(ctx context.Context, cfg Config) *Sweeper {
	s := New(cfg)
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() {
		t := time.NewTicker(MinInterval)
		defer t.Stop()
		for {
			s.Round(ctx)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	})
	return s
}

// Stop ends the sweeper, cancelling a sweep in progress, and waits for it.
func (s *Sweeper) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Round sweeps the places that are due.
func (s *Sweeper) Round(ctx context.Context) {
	users := s.cfg.Users()
	if users == nil {
		return
	}
	for _, p := range Places(users.List()) {
		id := p.Bucket + "\x00" + p.Prefix
		if now := s.cfg.Now(); now.Before(s.due[id]) || ctx.Err() != nil {
			continue
		}
		res, err := s.Sweep(ctx, p)
		s.due[id] = s.cfg.Now().Add(p.Interval())
		level := slog.LevelDebug
		if res.Deleted+res.Notified+res.Failed > 0 {
			level = slog.LevelInfo
		}
		attrs := []slog.Attr{slog.String("bucket", p.Bucket), slog.String("folder", p.Folder), slog.Bool("held", res.Held),
			slog.Int("deleted", res.Deleted), slog.Int("not_picked_up", res.Notified), slog.Int("failed", res.Failed)}
		if err != nil && ctx.Err() == nil {
			level = slog.LevelError
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		s.cfg.Log.LogAttrs(ctx, level, "lifecycle sweep done", attrs...)
	}
}

// Result is what one Sweep of a place did.
type Result struct {
	Held     bool // this gateway held the lease: false, another sweeps it now
	Deleted  int  // files deleted (retention_delete ok)
	Notified int  // not_picked_up records
	Failed   int  // deletions that failed (recorded as errors)
}

// Sweep sweeps p once, if this gateway gets its lease: the files older
// than p.Retention are deleted and recorded, and each file whose wait of
// p.NotPickedUpAfter ended since the lease's watermark is recorded as not
// picked up. The watermark then moves to now, so a later sweep (by any
// gateway) records only the files whose wait ended after it. A sweep that
// fails part way keeps the old watermark: its notices may be recorded again,
// never lost.
func (s *Sweeper) Sweep(ctx context.Context, p Place) (Result, error) {
	var res Result
	l, err := s.take(ctx, p)
	if err != nil || l == nil {
		return res, err
	}
	res.Held = true
	now := s.cfg.Now()
	var names *objfmt.Names
	if s.cfg.Names != nil {
		names = s.cfg.Names(p.Bucket, p.Prefix)
	}
	req := store.ListRequest{Bucket: p.Bucket, Prefix: p.Prefix}
	for {
		page, err := s.cfg.Objects.List(ctx, req)
		if err != nil {
			return res, fmt.Errorf("list %s: %w", p.Bucket, err)
		}
		for _, o := range page.Objects {
			if err := s.file(ctx, p, l, o, names, now, &res); err != nil {
				return res, err
			}
		}
		if req.Token = page.NextToken; req.Token == "" {
			break
		}
		if s.cfg.Now().After(l.Expires.Add(-ttl(p) / 2)) { // a long sweep keeps its lease
			if err := s.put(ctx, p, l); err != nil {
				return res, err
			}
		}
	}
	l.Notified = now
	return res, s.put(ctx, p, l)
}

// file is one listed object of a sweep of p, whose names cipher is names.
func (s *Sweeper) file(ctx context.Context, p Place, l *lease, o store.Object, names *objfmt.Names, now time.Time, res *Result) error {
	if strings.HasSuffix(o.Key, "/") || objfmt.IsReserved(o.Key) { // a directory marker, the gateway's own
		return nil
	}
	age := now.Sub(o.LastModified)
	rec := audit.Record{User: p.User, Path: path(p, o.Key, names), Folder: p.Folder,
		Bucket: p.Bucket, Key: o.Key, ETag: strings.Trim(o.ETag, `"`), Bytes: audit.Int(o.Size), Result: audit.ResultOK}
	if waited := o.LastModified.Add(p.NotPickedUpAfter); p.NotPickedUpAfter > 0 && !waited.After(now) && waited.After(l.Notified) {
		r := rec
		r.Event, r.DurMS = pickup.EventNotPickedUp, audit.Int(age.Milliseconds())
		if err := s.cfg.Trail.Write(r); err != nil {
			return fmt.Errorf("record not_picked_up: %w", err)
		}
		res.Notified++
	}
	if p.Retention == 0 || age < p.Retention {
		return nil
	}
	if err := s.cfg.Trail.Err(); err != nil {
		return fmt.Errorf("delete nothing while the audit trail is down: %w", err)
	}
	head, err := pickup.Delete(ctx, s.cfg.Objects, pickup.File{Bucket: p.Bucket, Key: o.Key, ETag: o.ETag})
	if _, _, skipped := pickup.Skipped(err); skipped {
		return nil // uploaded again since the listing, or deleted: no longer this old file
	}
	rec.Event, rec.VersionID, rec.Reason = pickup.EventRetentionDelete, head.VersionID, "retention "+p.Retention.String()
	id := [3]string{p.Bucket, o.Key, o.ETag}
	if err != nil {
		res.Failed++
		if s.failed[id] {
			return nil
		}
		s.failed[id] = true
		rec.Result, rec.Error = audit.ResultError, "delete failed: "+cmp.Or(store.ErrorCode(err), "no answer from the store") // no key: names may be hashed
	} else {
		delete(s.failed, id)
		res.Deleted++
	}
	if werr := s.cfg.Trail.Write(rec); werr != nil {
		return fmt.Errorf("record retention_delete: %w", werr)
	}
	return nil
}

// path is the SFTP path of key in p as its users see it: each segment
// decrypted with names, if set (one that is no name of the folder's
// cipher, written by another tool, stays as stored).
func path(p Place, key string, names *objfmt.Names) string {
	segs := strings.Split(strings.TrimPrefix(key, p.Prefix), "/")
	for i, seg := range segs {
		if names == nil {
			break
		}
		if plain, err := names.Decrypt(seg); err == nil {
			segs[i] = plain
		}
	}
	return p.Folder + "/" + strings.Join(segs, "/")
}
