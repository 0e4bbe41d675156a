package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/defender"
	"github.com/s3sftpd/s3sftpd/events"
	"github.com/s3sftpd/s3sftpd/internal/tryout"
	"github.com/s3sftpd/s3sftpd/inventory"
	"github.com/s3sftpd/s3sftpd/lifecycle"
	"github.com/s3sftpd/s3sftpd/memlimit"
	"github.com/s3sftpd/s3sftpd/metrics"
	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/s3fs/gate"
	"github.com/s3sftpd/s3sftpd/s3fs/sealing"
	"github.com/s3sftpd/s3sftpd/sftpd"
	"github.com/s3sftpd/s3sftpd/store"
)

func serve(args []string, stderr io.Writer) int {
	path, ok := configFlag("serve", args, stderr)
	if !ok {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runServer(ctx, path, log, stderr); err != nil {
		if errors.Is(err, errInvalidConfig) {
			printConfigErrors(stderr, errors.Unwrap(err))
		}
		log.Error("server stopped", "err", err.Error())
		return 1
	}
	return 0
}

// runServer runs until ctx is cancelled, then drains and shuts down. Once
// it listens, it prints to stderr how to connect with each demo key.
func runServer(ctx context.Context, path string, log *slog.Logger, stderr io.Writer) error {
	cfg, err := loadConfig(path, log)
	if err != nil {
		return err
	}
	hostKeys, created, err := sftpd.LoadHostKeys(cfg.Server.HostKeyDir)
	if err != nil {
		return err
	}
	for _, f := range created {
		log.Info("host key created", "file", f)
	}
	for _, k := range hostKeys {
		log.Info("host key", "type", k.PublicKey().Type(), "fingerprint", ssh.FingerprintSHA256(k.PublicKey()))
	}
	users, err := buildUsers(cfg)
	if err != nil {
		return err
	}
	for _, w := range keyWarnings(cfg, time.Now(), 0) {
		log.Warn(w)
	}
	setMemoryLimit(cfg.Memory, log)
	s3cfg := s3Config(cfg)
	if err := setEncryption(ctx, &s3cfg, cfg.Encryption); err != nil {
		return err
	}
	if cfg.S3.Endpoint == config.EndpointEmbedded {
		store, err := tryout.Start(cfg.Embedded.Dir, buckets(cfg)...)
		if err != nil {
			return err
		}
		defer store.Close(context.WithoutCancel(ctx))
		s3cfg.Endpoint, s3cfg.PathStyle = store.Endpoint, true
		s3cfg.AccessKeyID, s3cfg.SecretAccessKey = "embedded", "embedded"
		log.Warn("using the embedded S3 store: for trying s3sftpd out, not for real data", "dir", cfg.Embedded.Dir)
	}
	m := metrics.New()
	s3cfg.APIOptions = append(s3cfg.APIOptions, m.S3Middleware)
	s3cfg.Throttled = m.Throttled
	st, err := store.Dial(ctx, s3cfg.Config)
	if err != nil {
		return err
	}
	if err := checkCompliance(ctx, cfg, st, log); err != nil {
		return err
	}
	// Users with role_arn run their S3 calls as that role; always routed,
	// so a role added by a reload never falls back to the gateway's identity.
	fsys, err := s3fs.New(st.Objects(), s3cfg, log)
	if err != nil {
		return err
	}
	m.WatchUploadMemory(fsys.UploadMemoryInUse)
	m.WatchReadAheadMemory(fsys.ReadAheadMemoryInUse)
	m.Budgets(memoryBudgets(cfg.Memory))
	var current atomic.Pointer[config.Config] // replaced by each reload
	current.Store(cfg)
	stopAdmin, err := startAdmin(cfg, m, st, &current, log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	sweeper := startSweeper(ctx, &current, fsys, log)
	defer sweeper.Stop()
	evs := events.New(events.Config{Trail: cfg.Audit.File, Sinks: cfg.Events.Sinks(), Logger: log})
	alog, err := openAudit(cfg, st, log, func(r audit.Record) { m.Observe(r); evs.Wake() })
	if err != nil {
		return err
	}
	defer func() {
		alog.Write(audit.Record{Event: audit.EventServerStop, Result: audit.ResultOK, Version: version})
		if err := alog.Close(); err != nil {
			log.Error("audit file not closed cleanly", "err", err.Error())
		}
	}()
	if err := alog.Write(audit.Record{Event: audit.EventServerStart, Result: audit.ResultOK, Version: version,
		ConfigHash: configHash(path)}); err != nil {
		return fmt.Errorf("write the first audit record: %w", err)
	}
	if err := evs.Start(); err != nil {
		return fmt.Errorf("start events: %w", err)
	}
	defer evs.Stop()
	m.WatchEvents(evs.Stats)
	live := auth.NewLive(users)
	sweep := lifecycle.Start(ctx, lifecycle.Config{Objects: fsys.Objects(), Trail: alog, Log: log, Users: live.Users, // retention, not_picked_up
		Names: (&sealing.Policy{NameKey: s3cfg.NameKey}).Names})
	defer sweep.Stop()
	srv := &sftpd.Server{
		HostKeys:          hostKeys,
		Users:             live,
		Handlers:          fsys.Handlers,
		Audit:             alog,
		Logger:            log,
		LoginTimeout:      cfg.Server.LoginTimeout.Duration,
		IdleTimeout:       cfg.Server.IdleTimeout.Duration,
		KeepaliveInterval: cfg.Server.KeepaliveInterval.Duration,
		KeepaliveCountMax: cfg.Server.KeepaliveCountMax,
		MaxAuthTries:      cfg.Server.MaxAuthTries,
		Defender:          defenderConfig(cfg.Defender),
		PasswordAuth:      passwordOnlyUsers(cfg),
		UserCAs:           auth.NewUserCAs(cfg.Server.UserCAKeys, cfg.Server.MinRSABits),
		Crypto:            cfg.Server.Crypto,

		MaxSessionsPerConnection: cfg.Server.MaxSessionsPerConnection,
		Throttled:                m.Throttled,
	}
	room := memlimit.NewRoom(int64(cfg.Memory.Sessions))
	srv.Admit = admitSessions(room, cfg.Server.MemoryWait.Duration, m.Throttled)
	m.WatchSessionMemory(room.InUse)
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln = proxyListener(ln, cfg, log)
	log.Info("listening", "addr", ln.Addr().String(), "users", users.Len(), "bucket", cfg.S3.Bucket)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	printConnectHints(stderr, cfg, ln.Addr().String(), hostKeys)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	bgCtx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	background.Go(func() {
		(&reloader{path: path, log: log, audit: alog, users: live, srv: srv, cfg: &current}).run(bgCtx, hup)
	})
	background.Go(func() { logStats(bgCtx, log) })
	reminder := &inventory.Reminder{Users: live.Users, Log: log}
	m.WatchExpiringKeys(reminder.Count)
	background.Go(func() { reminder.Run(bgCtx, time.Minute) }) // cheap (no I/O), so a reload shows within a minute
	defer func() { stopBackground(); background.Wait() }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_timeout", cfg.Server.DrainTimeout.String())
	drain, cancel := context.WithTimeout(context.Background(), cfg.Server.DrainTimeout.Duration)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		log.Warn("drain timed out: open uploads were aborted", "err", err.Error())
	}
	<-served
	log.Info("stopped")
	return nil
}

// setMemoryLimit sets Go's soft memory limit from the config's split, so
// the collector works harder before the process passes the limit, rather
// than letting the heap grow to twice what is live.
func setMemoryLimit(m memlimit.Split, log *slog.Logger) {
	debug.SetMemoryLimit(int64(m.SoftLimit))
	log.Info("memory limit", "limit", m.Limit.String(), "from", m.From, "uploads", m.Uploads.String(), "read_ahead", m.ReadAhead.String(),
		"sessions", m.MaxSessions(), "session_memory", m.Sessions.String(), "base", m.Base.String(), "runtime", m.Runtime.String(),
		"go_soft_limit", m.SoftLimit.String())
}

// errServerBusy refuses a session the memory limit has no room for.
var errServerBusy = errors.New("server busy, try again later")

// admitSessions lets a new session in when the memory limit has room for
// it, waiting up to wait, and refuses it as "server busy" when none comes.
func admitSessions(room *memlimit.Room, wait time.Duration, throttled func(string, time.Duration)) func(context.Context) (func(), error) {
	return func(ctx context.Context) (func(), error) {
		waited, ok := room.Take(ctx, wait)
		if waited > 0 {
			throttled(memlimit.ThrottledSessions, waited)
		}
		switch {
		case ok:
			return room.Release, nil
		case ctx.Err() != nil:
			return nil, context.Cause(ctx) // the connection is closing
		}
		return nil, errServerBusy
	}
}

// memoryBudgets is the split, for the metrics.
func memoryBudgets(m memlimit.Split) map[string]int64 {
	return map[string]int64{"limit": int64(m.Limit), "go_soft_limit": int64(m.SoftLimit), "uploads": int64(m.Uploads),
		"read_ahead": int64(m.ReadAhead), "sessions": int64(m.Sessions), "base": int64(m.Base), "runtime": int64(m.Runtime)}
}

// loadConfig loads the config and, on the embedded store, creates the demo
// key pairs the config names but that do not exist yet.
func loadConfig(path string, log *slog.Logger) (*config.Config, error) {
	cfg, err := config.LoadIn(path, memlimit.Container())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	generated := false
	for _, u := range cfg.Users {
		if !u.MissingKeysFile {
			continue
		}
		priv, err := tryout.CreateDemoKey(u.KeysFile)
		if err != nil {
			return nil, err
		}
		generated = true
		log.Info("demo key pair created", "user", u.Name, "private_key", priv)
	}
	if generated {
		if cfg, err = config.LoadIn(path, memlimit.Container()); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
		}
	}
	return cfg, nil
}

func buildUsers(cfg *config.Config) (*auth.Users, error) {
	var us []auth.User
	for _, u := range cfg.Users {
		au, err := authUser(cfg, u)
		if err != nil {
			return nil, err
		}
		us = append(us, au)
	}
	return auth.NewUsers(us)
}

// authUser is one [[users]] entry as auth takes it.
func authUser(cfg *config.Config, u config.User) (auth.User, error) {
	perms, err := auth.ParsePerms(u.Permissions)
	if err != nil {
		return auth.User{}, fmt.Errorf("user %s: %w", u.Name, err)
	}
	au := auth.User{Name: u.Name, Bucket: bucketOf(cfg, u), Home: u.Home, Perms: perms, Folders: folders(u), AllowFrom: u.AllowFromPrefixes,
		LegacyRSASHA1: u.LegacyRSASHA1, Methods: u.Methods, Password: u.Password, RoleARN: u.RoleARN, ExternalID: u.ExternalID,
		Limits: auth.Limits{MaxUploadBytesPerSec: int64(u.MaxUploadMBps) * 1e6, MaxDownloadBytesPerSec: int64(u.MaxDownloadMBps) * 1e6,
			ReadAheadMemory: int64(u.ReadAheadMemoryPerUser), UploadMemory: int64(u.UploadMemoryPerUser), MaxOpenFiles: u.MaxOpenFiles}}
	au.Gates = auth.Gates{Scan: u.Scan, PGP: u.PGP, RequireSignature: u.PGPRequireSignature}
	au.PGPKeys = u.PGPPublicKeys
	for _, k := range u.PublicKeys {
		au.Keys = append(au.Keys, k.Key)
		au.KeyOptions = append(au.KeyOptions, k.Restrictions)
	}
	return au, nil
}

func bucketOf(cfg *config.Config, u config.User) string {
	if u.Bucket != "" {
		return u.Bucket
	}
	return cfg.S3.Bucket
}

// folders are the places of u's tree besides the home.
func folders(u config.User) []auth.Folder {
	var out []auth.Folder
	for _, m := range u.Tree {
		if !m.Home() {
			out = append(out, auth.Folder{Path: m.Path, Bucket: m.Bucket, Prefix: m.Prefix, Perms: m.Perms, Gates: m.Gates, Lifecycle: m.Lifecycle})
		}
	}
	return out
}

// buckets lists every bucket the config uses (homes, folders and the audit
// copy), for the embedded store to create and the doctor to check.
func buckets(cfg *config.Config) []string {
	seen := map[string]bool{}
	var out []string
	for _, u := range cfg.Users {
		for _, m := range u.Tree {
			if !seen[m.Bucket] {
				seen[m.Bucket] = true
				out = append(out, m.Bucket)
			}
		}
	}
	if b := cfg.Audit.S3Bucket; b != "" && !seen[b] {
		out = append(out, b)
	}
	return out
}

func s3Config(cfg *config.Config) s3fs.Config {
	endpoint := cfg.S3.Endpoint
	if endpoint == config.EndpointEmbedded {
		endpoint = ""
	}
	return s3fs.Config{
		Config: store.Config{
			Endpoint:    endpoint,
			Region:      cfg.S3.Region,
			PathStyle:   cfg.S3.PathStyle,
			STSEndpoint: cfg.S3.STSEndpoint,
			SSE:         cfg.S3.SSE,
			KMSKeyID:    cfg.S3.KMSKeyID,
			Checksums:   cfg.S3.Checksums,
			RetryMode:   cfg.S3.RetryMode,
			MaxAttempts: cfg.S3.MaxAttempts,
		},
		PartSize:     int64(cfg.S3.PartSize),
		UploadMemory: int64(cfg.S3.UploadMemory),
		// each user's share comes with its tenant; this is for any without
		UploadMemoryShare: int64(cfg.UserDefaults.UploadMemoryPerUser),
		UploadMemoryWait:  cfg.S3.UploadMemoryWait.Duration,
		ReadAheadMemory:   int64(cfg.S3.ReadAheadMemory),
		TempSuffixes:      cfg.Server.TempSuffixes,
		HideNames:         cfg.Audit.Paths == config.AuditPathsHMAC,
		Gates:             gate.Config{Scanner: cfg.Scan.Client(), AcceptUnscanned: cfg.Scan.OnUnavailable == "accept", Key: cfg.PGP.PrivateKey},
	}
}

// defenderConfig is the [defender] section for sftpd; nil when disabled.
func defenderConfig(d config.Defender) *defender.Config {
	if !d.Enabled {
		return nil
	}
	return &defender.Config{
		IPFailures: d.IPFailures, UserFailures: d.UserFailures, Window: d.Window.Duration,
		BanTime: d.BanTime.Duration, BanTimeMax: d.BanTimeMax.Duration, Allow: d.AllowPrefixes,
		MaxUnauthPerIP: d.MaxUnauthenticatedPerIP, MaxUnauth: d.MaxUnauthenticated,
		EarlyDropStart: d.EarlyDropStart, EarlyDropRate: d.EarlyDropRate,
		MaxSessionsPerUser: d.MaxSessionsPerUser,
	}
}

// passwordOnlyUsers reports whether a user logs in with a password alone:
// only then does the server offer password as a first method.
func passwordOnlyUsers(cfg *config.Config) bool {
	for _, u := range cfg.Users {
		if u.Methods == auth.MethodPassword {
			return true
		}
	}
	return false
}
