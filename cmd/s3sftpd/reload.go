package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/memlimit"
	"github.com/s3sftpd/s3sftpd/sftpd"
)

// watchEvery is how often the config file and the keys files it names are
// checked for changes. Reading a few small files this often costs nothing,
// and a removed key stops working within it.
const watchEvery = 500 * time.Millisecond

// reloader puts a changed user map in force without dropping sessions: on
// SIGHUP, and when the config file or a keys file it names changes. A config
// that does not load is refused whole, with the errors check-config prints,
// and the one in force stays.
type reloader struct {
	path  string
	log   *slog.Logger
	audit *audit.Log
	users *auth.Live
	srv   *sftpd.Server

	cfg *atomic.Pointer[config.Config] // the config in force, which the orphan sweeper reads too
	sum string                         // SHA-256 of the files it was read from
}

// run reloads until ctx ends.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	r.sum = r.filesSum(r.cfg.Load())
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP")
		case <-tick.C:
			if sum := r.filesSum(r.cfg.Load()); sum != r.sum {
				r.reload("config file changed")
			}
		}
	}
}

// filesSum is a hash of the config file and the keys files cfg names, so an
// edit of either is seen; a file that cannot be read counts as a change.
func (r *reloader) filesSum(cfg *config.Config) string {
	h := sha256.New()
	for _, f := range append([]string{r.path}, keysFiles(cfg)...) {
		b, err := os.ReadFile(f)
		if err != nil {
			b = []byte("unreadable: " + err.Error())
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func keysFiles(cfg *config.Config) []string {
	var out []string
	for _, u := range cfg.Users {
		if u.KeysFile != "" {
			out = append(out, u.KeysFile)
		}
	}
	return out
}

// reload loads the config again and puts its user map in force; sessions
// whose login no longer holds are closed.
func (r *reloader) reload(trigger string) {
	rec := audit.Record{Event: audit.EventReload, Reason: trigger, ConfigHash: configHash(r.path)}
	cfg, err := config.LoadIn(r.path, memlimit.Container())
	var users *auth.Users
	if err == nil {
		users, err = buildUsers(cfg)
	}
	if err != nil {
		r.sum = r.filesSum(r.cfg.Load()) // not again until the files change again
		lines := configErrorLines(err)
		r.log.Error("config reload refused: the previous config stays in force", "trigger", trigger, "errors", lines)
		rec.Result, rec.Error = audit.ResultError, "config refused, previous config in force: "+strings.Join(lines, "; ")
		r.audit.Write(rec)
		return
	}
	old := r.users.Swap(users)
	closed := r.srv.Recheck()
	rec.Result, rec.Changes = audit.ResultOK, auth.Diff(old, users)
	for _, part := range restartNeeded(r.cfg.Load(), cfg) {
		rec.Changes = append(rec.Changes, part+" changed: takes effect after a restart")
		r.log.Warn("config changed in a part that takes effect only after a restart", "part", part)
	}
	r.cfg.Store(cfg)
	r.sum = r.filesSum(cfg)
	r.log.Info("config reloaded", "trigger", trigger, "changes", rec.Changes, "sessions_closed", closed, "users", users.Len())
	if err := r.audit.Write(rec); err != nil {
		r.log.Error("reload not recorded in the audit trail", "err", err.Error())
	}
}

// configErrorLines is err as check-config prints it, one FILE:LINE:COL line
// per problem.
func configErrorLines(err error) []string {
	var errs config.Errors
	if errors.As(err, &errs) {
		return errs.Lines()
	}
	return []string{err.Error()}
}

// restartNeeded names the parts of the config, besides the user map, that
// changed: they were read at start-up and stay as they were until a restart.
func restartNeeded(old, new *config.Config) []string {
	var out []string
	for _, part := range []struct {
		name     string
		old, new any
	}{
		{"[server]", old.Server, new.Server},
		{"[s3]", old.S3, new.S3},
		{"[embedded]", old.Embedded, new.Embedded},
		{"[audit]", old.Audit, new.Audit},
		{"[admin]", old.Admin, new.Admin},
		{"[defender]", old.Defender, new.Defender},
		{"[encryption]", old.Encryption, new.Encryption},
		{"[events]", old.Events, new.Events},
	} {
		if !reflect.DeepEqual(part.old, part.new) {
			out = append(out, part.name)
		}
	}
	if passwordOnlyUsers(old) != passwordOnlyUsers(new) {
		out = append(out, "password as a first method (a user with auth = [\"password\"])")
	}
	if old.S3.Endpoint == config.EndpointEmbedded && !slices.Equal(buckets(old), buckets(new)) {
		out = append(out, "the embedded store's buckets")
	}
	return out
}
