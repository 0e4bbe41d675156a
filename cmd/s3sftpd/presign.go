package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/ops"
	"github.com/s3sftpd/s3sftpd/store"
)

// presignCmd prints a presigned GET URL for a file in a user's jail and
// records it in the presign trail. Exit 0 with the URL on stdout, 1 when
// refused or failed (nothing on stdout), 2 for usage and config errors.
func presignCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("presign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "path of the TOML config file")
	user := fs.String("user", "", "the user whose jail the path is in")
	ttl := fs.Duration("ttl", 5*time.Minute, "how long the URL works (capped by s3.max_presign_ttl)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgPath == "" || *user == "" || fs.NArg() != 1 || *ttl <= 0 {
		fmt.Fprintf(stderr, "s3sftpd presign: -config FILE -user NAME PATH [-ttl 5m] (ttl above 0)\n%s", usage)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return 2
	}
	if max := cfg.S3.MaxPresignTTL.Duration; *ttl > max {
		fmt.Fprintf(stderr, "s3sftpd presign: ttl %v capped to s3.max_presign_ttl %v\n", *ttl, max)
		*ttl = max
	}
	url, err := presign(ctx, cfg, *user, fs.Arg(0), *ttl, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "s3sftpd presign:", err)
		return 1
	}
	fmt.Fprintln(stdout, url)
	return 0
}

// presign signs the URL and records the hand-out (or the refusal). The URL
// is returned only once its record is written: an unaudited hand-out of PHI
// must not happen. With audit.s3_bucket the record is shipped first; when
// it cannot be, on_failure = "deny" withholds the URL (see withhold) and
// "continue" prints it with a warning on stderr.
func presign(ctx context.Context, cfg *config.Config, name, p string, ttl time.Duration, stderr io.Writer) (string, error) {
	switch {
	case cfg.S3.Endpoint == config.EndpointEmbedded:
		return "", errors.New("presign needs a real S3 endpoint: the embedded store only runs inside serve")
	case cfg.Audit.File == "":
		return "", errors.New("presign refused: hand-outs are audited and [audit] file is off")
	case strings.HasPrefix(filepath.Base(cfg.Audit.File), "presign"):
		// Same file or same segment names: two writers, one chain; and
		// segments shipped under the same names.
		return "", fmt.Errorf("presign refused: audit.file %q is named like the presign trail beside it (presign.jsonl): rename it", cfg.Audit.File)
	}
	var tenant *auth.Tenant
	for _, u := range cfg.Users {
		if u.Name == name {
			perms, err := auth.ParsePerms(u.Permissions)
			if err != nil {
				return "", fmt.Errorf("user %s: %w", name, err)
			}
			tenant = &auth.Tenant{User: u.Name, Bucket: bucketOf(cfg, u), Prefix: u.Home, Perms: perms, Folders: folders(u),
				RoleARN: u.RoleARN, ExternalID: u.ExternalID}
		}
	}
	if tenant == nil {
		return "", fmt.Errorf("no user %q in the config", name)
	}
	file := presignTrailFile(cfg)
	unlock, err := lockPresignTrail(file)
	if err != nil {
		return "", err
	}
	defer unlock()

	s3cfg := s3Config(cfg)
	if err := setEncryption(ctx, &s3cfg, cfg.Encryption); err != nil { // names are looked up encrypted, as over SFTP
		return "", err
	}
	st, err := store.Dial(ctx, s3cfg.Config)
	if err != nil {
		return "", err
	}
	var ship audit.Shipper
	if cfg.Audit.S3Bucket != "" {
		ship = ops.NewAuditShipper(st, cfg.Audit.S3Bucket, cfg.Audit.S3Prefix)
	}
	trail, err := openPresignTrail(cfg, file, ship)
	if err != nil {
		return "", err
	}
	defer trail.Close()
	// A user with role_arn gets a URL signed by its role: it reaches the home only.
	if err := st.CheckRole(tenant); err != nil {
		return "", err
	}
	rec := audit.Record{Event: audit.EventPresign, User: name, Path: p, Bucket: tenant.Bucket,
		Client: fmt.Sprintf("s3sftpd presign (uid %d)", os.Getuid()), Result: audit.ResultOK}
	signed, err := ops.PresignGet(ctx, st, s3cfg, tenant, p, ttl)
	var refusal *ops.Refusal
	switch { // the trail gets fixed words: err's text names the key
	case errors.As(err, &refusal):
		rec.Result, rec.Reason, rec.Error = audit.ResultDenied, "refused", ops.PresignTrailText(err)
	case err != nil:
		rec.Result, rec.Error = audit.ResultError, ops.PresignTrailText(err)
	default:
		rec.Key, rec.Expires = signed.Key, &audit.Time{Time: signed.Expires}
	}
	if werr := trail.Write(rec); werr != nil {
		return "", fmt.Errorf("write audit record: %w", werr)
	}
	// With a shipper, Close rotates the record into a closed segment and
	// ships it, with any backlog, before it returns.
	cerr := trail.Close()
	notShipped := errors.Is(cerr, audit.ErrNotShipped)
	if cerr != nil && !notShipped {
		return "", fmt.Errorf("close audit trail: %w", cerr)
	}
	switch {
	case notShipped && err != nil:
		fmt.Fprintf(stderr, "s3sftpd presign: warning: %v (the next presign retries)\n", cerr)
	case notShipped && cfg.Audit.OnFailure == config.AuditContinue:
		fmt.Fprintf(stderr, "s3sftpd presign: warning: the record of this hand-out is only on this machine until it ships (the next presign retries; on_failure = \"continue\"): %v\n", cerr)
	case notShipped:
		return "", withhold(cfg, file, rec, cerr)
	}
	if err != nil {
		return "", err
	}
	return signed.URL, nil
}

// withhold records that the URL just recorded as handed out was not
// printed after all, because its record could not be shipped and
// on_failure is "deny": the trail must not claim a hand-out that did not
// happen. The note stays local and ships with the next presign. Called
// with the trail locked.
func withhold(cfg *config.Config, file string, rec audit.Record, shipErr error) error {
	refused := fmt.Errorf("presign refused: audit.on_failure is %q and the record of this hand-out could not be shipped off this machine "+
		"(it is kept in %s and ships with the next presign): %w", config.AuditDeny, filepath.Dir(file), shipErr)
	trail, err := openPresignTrail(cfg, file, nil)
	if err != nil {
		return errors.Join(refused, err)
	}
	rec.Result, rec.Reason, rec.Error, rec.Expires = audit.ResultError, "not shipped", "URL withheld: the record could not be shipped", nil
	err = trail.Write(rec)
	return errors.Join(refused, err, trail.Close())
}

// presignTrailFile is presign.jsonl beside the audit file: a trail of its
// own, because the running server appends to the main one and two writers
// would fork its hash chain. Its segments are named presign-SEQ.jsonl, so
// shipped beside the server's they never collide.
func presignTrailFile(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(cfg.Audit.File), "presign.jsonl")
}

// lockPresignTrail takes an exclusive lock beside file, so concurrent
// presign commands write, rotate and ship the trail in turn; unlock
// releases it.
func lockPresignTrail(file string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("create audit directory: %w", err)
	}
	lock, err := os.OpenFile(file+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open presign lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("lock presign trail: %w", err)
	}
	return func() { lock.Close() }, nil
}

// openPresignTrail opens the locked presign trail with the audit file's
// key and path hashing. A write failure always refuses: the local record
// is required whatever on_failure says. With ship, Close rotates and ships.
func openPresignTrail(cfg *config.Config, file string, ship audit.Shipper) (*audit.Log, error) {
	a := cfg.Audit
	l, err := audit.Open(audit.Config{File: file, HMACKey: a.HMACKey, HashPaths: a.Paths == config.AuditPathsHMAC,
		RotateSize: int64(a.RotateSize), Ship: ship})
	if err != nil {
		return nil, fmt.Errorf("open presign trail: %w", err)
	}
	return l, nil
}
