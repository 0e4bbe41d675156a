package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/s3sftpd/s3sftpd/config/tree"
	"github.com/s3sftpd/s3sftpd/memlimit"
	"github.com/s3sftpd/s3sftpd/proxyproto"
)

// validate checks cfg, reports every problem, and resolves relative paths
// and keys.
func (l *loader) validate(cfg *Config, c memlimit.Cgroup) {
	l.validateServer(&cfg.Server)
	l.validateMemory(cfg, c)
	l.validateS3(&cfg.S3, cfg.Users, cfg.Groups)
	if cfg.S3.Endpoint == EndpointEmbedded {
		l.nonEmpty("embedded.dir", cfg.Embedded.Dir)
	}
	cfg.Embedded.Dir = l.resolve(cfg.Embedded.Dir)
	l.validateUsers(cfg)
	l.validateAudit(cfg)
	if a := cfg.Admin.Listen; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil {
			l.errf("admin.listen", `must be host:port, such as "127.0.0.1:9102", or "" (off)`)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			l.errf("admin.listen", "port must be a number from 0 to 65535")
		}
	}
	l.validateDefender(&cfg.Defender)
	l.validateEncryption(&cfg.Encryption)
	l.validateGates(cfg)
	l.validateEvents(cfg)
}

func (l *loader) validateServer(s *Server) {
	if l.nonEmpty("server.listen", s.Listen) {
		if _, port, err := net.SplitHostPort(s.Listen); err != nil {
			l.errf("server.listen", `must be host:port, such as "127.0.0.1:2022"`)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			l.errf("server.listen", "port must be a number from 0 to 65535")
		}
	}
	l.nonEmpty("server.host_key_dir", s.HostKeyDir)
	s.HostKeyDir = l.resolve(s.HostKeyDir)
	for _, d := range []struct {
		key string
		d   Duration
	}{
		{"server.idle_timeout", s.IdleTimeout},
		{"server.login_timeout", s.LoginTimeout},
		{"server.drain_timeout", s.DrainTimeout},
		{"server.keepalive_interval", s.KeepaliveInterval},
	} {
		if d.d.Duration <= 0 {
			l.errf(d.key, "must be greater than 0")
		}
	}
	if s.MaxAuthTries < 1 {
		l.errf("server.max_auth_tries", "must be at least 1")
	}
	if s.KeepaliveCountMax < 1 {
		l.errf("server.keepalive_count_max", "must be at least 1")
	}
	if s.MaxSessionsPerConnection < 1 || s.MaxSessionsPerConnection > maxSessionsPerConnection {
		l.errf("server.max_sessions_per_connection", "must be from 1 to %d, got %d", maxSessionsPerConnection, s.MaxSessionsPerConnection)
	}
	switch {
	case s.ProxyProtocol && len(s.TrustedProxies) == 0 && !l.failed["server.trusted_proxies"]:
		l.errf("server.proxy_protocol", `needs trusted_proxies, the CIDRs of the load balancers, such as ["10.0.0.0/24"]`)
	case !s.ProxyProtocol && len(s.TrustedProxies) > 0:
		l.errf("server.trusted_proxies", "is only used with proxy_protocol = true")
	}
	for i, p := range s.TrustedProxies {
		if _, err := proxyproto.ParseTrusted(p); err != nil && !l.failed[fmt.Sprintf("server.trusted_proxies[%d]", i)] {
			l.errf(fmt.Sprintf("server.trusted_proxies[%d]", i), `must be a CIDR such as "10.0.0.0/24" or an address, got %q`, p)
		}
	}
	l.minRSABits = minRSABits
	if s.MinRSABits < minRSABits || s.MinRSABits > 16384 {
		l.errf("server.min_rsa_bits", "must be from %d to 16384, got %d", minRSABits, s.MinRSABits)
	} else {
		l.minRSABits = s.MinRSABits
	}
	l.userCAKeys(s)
	if !slices.Contains([]string{"modern", "compatible", "fips"}, s.Crypto) && !l.failed["server.crypto"] {
		l.errf("server.crypto", `must be "modern", "compatible" or "fips", got %q`, s.Crypto)
	}
	for _, suffix := range s.TempSuffixes {
		rest, ok := strings.CutPrefix(suffix, ".*.")
		if !ok {
			rest, ok = strings.CutPrefix(suffix, ".")
		}
		if !ok || rest == "" || strings.ContainsAny(rest, "*/") {
			l.errf("server.temp_suffixes", `%q must be ".name" or ".*.name"`, suffix)
		}
	}
}

func (l *loader) validateS3(s *S3, users []User, groups []Group) {
	switch s.Endpoint {
	case EndpointEmbedded, "":
	default:
		u, err := url.Parse(s.Endpoint)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
			l.errf("s3.endpoint", `must be "embedded", "" (AWS) or an http(s) URL, got %q`, s.Endpoint)
		case u.User != nil:
			l.errf("s3.endpoint", "must not hold credentials; the AWS SDK reads them from its environment")
		case u.Scheme == "http" && !loopbackHost(u.Hostname()):
			l.errf("s3.endpoint", "must be https unless the store is on loopback (127.0.0.1, ::1, localhost): files would cross the network unencrypted")
		}
	}
	if s.STSEndpoint != "" {
		u, err := url.Parse(s.STSEndpoint)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
			l.errf("s3.sts_endpoint", `must be "" (AWS) or an http(s) URL, got %q`, s.STSEndpoint)
		case u.Scheme == "http" && !loopbackHost(u.Hostname()):
			l.errf("s3.sts_endpoint", "must be https unless it is on loopback: it hands out credentials")
		}
	}
	l.nonEmpty("s3.region", s.Region)
	switch {
	case s.Bucket != "":
		l.bucketName("s3.bucket", s.Bucket)
	case len(users) > 0 && !slices.ContainsFunc(users, func(u User) bool { return tree.UsesDefaultBucket(u.Bucket, u.Home, u.Groups, u.Folders, groups) }):
		// every home and folder has its own bucket
	case l.failed["s3.bucket"]:
	case l.present["s3.bucket"]:
		l.errf("s3.bucket", "must not be empty unless every user sets bucket")
	default:
		l.msgf("s3.bucket", `missing required key "s3.bucket" (or set bucket on every user or folder)`)
	}
	switch s.SSE {
	case "AES256":
		if s.KMSKeyID != "" {
			l.errf("s3.kms_key_id", `must be empty unless sse = "aws:kms"`)
		}
	case "aws:kms":
	default:
		l.errf("s3.sse", `must be "AES256" or "aws:kms" (encryption cannot be disabled), got %q`, s.SSE)
	}
	if s.Checksums != "aws" && s.Checksums != "compat" {
		l.errf("s3.checksums", `must be "aws" or "compat", got %q`, s.Checksums)
	}
	if s.PartSize < minPartSize || s.PartSize > maxPartSize {
		l.errf("s3.part_size", "must be from %v to %v, got %v", minPartSize, maxPartSize, s.PartSize)
	}
	if s.UploadMemory < s.PartSize {
		l.errf("s3.upload_memory", "must be at least part_size (%v), got %v", s.PartSize, s.UploadMemory)
	}
	if d := s.UploadMemoryWait.Duration; d < time.Second && !l.failed["s3.upload_memory_wait"] {
		l.errf("s3.upload_memory_wait", `must be at least "1s", got %v`, d)
	}
	if s.ReadAheadMemory < minReadAheadMemory {
		l.errf("s3.read_ahead_memory", "must be at least %v (one read-ahead block), got %v", minReadAheadMemory, s.ReadAheadMemory)
	}
	if s.OrphanUploadAge.Duration < minOrphanUploadAge && !l.failed["s3.orphan_upload_age"] {
		l.errf("s3.orphan_upload_age", "must be at least %v (keep it above your longest upload, such as \"24h\"), got %v",
			minOrphanUploadAge, s.OrphanUploadAge.Duration)
	}
	if d := s.OrphanSweepEvery.Duration; d < 0 || d > 0 && d < minOrphanSweepEvery {
		l.errf("s3.orphan_sweep_every", `must be "0s" (at start-up only) or at least "1m", got %v`, d)
	}
	if s.RetryMode != "standard" && s.RetryMode != "adaptive" {
		l.errf("s3.retry_mode", `must be "standard" or "adaptive", got %q`, s.RetryMode)
	}
	if d := s.MaxPresignTTL.Duration; (d < time.Second || d > 7*24*time.Hour) && !l.failed["s3.max_presign_ttl"] {
		l.errf("s3.max_presign_ttl", `must be from "1s" to "168h" (the SigV4 limit), got %v`, d)
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > 20 {
		l.errf("s3.max_attempts", "must be from 1 to 20, got %d", s.MaxAttempts)
	}
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l *loader) validateUsers(cfg *Config) {
	if !l.present["user_defaults.upload_memory_per_user"] {
		s := cfg.S3
		cfg.UserDefaults.UploadMemoryPerUser = min(s.UploadMemory, max(s.UploadMemory/4, s.PartSize+reorderWindow))
	}
	// a derived default share is not the operator's to fix
	l.limits(cfg.UserDefaults, "user_defaults", cfg.S3, func(k string) bool {
		return k != "upload_memory_per_user" || l.present["user_defaults.upload_memory_per_user"]
	})
	if len(cfg.Users) == 0 && !l.failed["users"] {
		l.msgf("users", "no users: add a [[users]] table")
	}
	l.groups(cfg.Groups)
	first := map[string]int{} // name → index of its first user
	for i := range cfg.Users {
		u := &cfg.Users[i]
		key := fmt.Sprintf("users[%d]", i)
		if l.failed[key] {
			continue // not a table, reported
		}
		if l.required(key, "name", u.Name) {
			if bad := badChars(u.Name); bad != "" {
				l.errf(key+".name", "must not contain %s", bad)
			} else if strings.ContainsFunc(u.Name, unicode.IsSpace) {
				l.errf(key+".name", "must not contain white space")
			}
			if j, dup := first[u.Name]; dup {
				l.errf(key+".name", "duplicate user %q (first at line %d)", u.Name, l.idx.Find(fmt.Sprintf("users[%d].name", j)).Line)
			} else {
				first[u.Name] = i
			}
		}
		if u.Home != "" || len(u.Groups) == 0 && len(u.Folders) == 0 && l.required(key, "home", u.Home) {
			if msg := homeProblem(u.Home); msg != "" {
				l.errf(key+".home", "%s", msg)
			}
		}
		if u.Bucket != "" {
			l.bucketName(key+".bucket", u.Bucket)
		}
		l.userRole(u, key, bucketOf(*u, cfg.S3))
		l.permissions(key, u.Permissions, "grant all")
		for j, f := range u.Folders {
			l.folder(fmt.Sprintf("%s.folders[%d]", key, j), f)
		}
		l.userLimits(u, key, cfg)
		l.allowFrom(u, key)
		l.authMethods(u, key)
		l.userKeys(u, key, cfg.S3.Endpoint == EndpointEmbedded)
	}
	l.trees(cfg)
}

// userLimits fills in the limits u omits from [user_defaults] and checks
// those it sets.
func (l *loader) userLimits(u *User, key string, cfg *Config) {
	d := cfg.UserDefaults
	own := func(k string) bool { return l.present[key+"."+k] }
	if !own("max_upload_mbps") {
		u.MaxUploadMBps = d.MaxUploadMBps
	}
	if !own("max_download_mbps") {
		u.MaxDownloadMBps = d.MaxDownloadMBps
	}
	if !own("read_ahead_memory_per_user") {
		u.ReadAheadMemoryPerUser = d.ReadAheadMemoryPerUser
	}
	if !own("upload_memory_per_user") {
		u.UploadMemoryPerUser = d.UploadMemoryPerUser
	}
	if !own("max_open_files") {
		u.MaxOpenFiles = d.MaxOpenFiles
	}
	l.limits(UserLimits{MaxUploadMBps: u.MaxUploadMBps, MaxDownloadMBps: u.MaxDownloadMBps, ReadAheadMemoryPerUser: u.ReadAheadMemoryPerUser,
		UploadMemoryPerUser: u.UploadMemoryPerUser, MaxOpenFiles: u.MaxOpenFiles}, key, cfg.S3, own)
}

// reorderWindow is the out-of-order window every upload may hold beyond
// its part (s3fs maxAhead): a default share holds a whole part and this.
const reorderWindow = 16 * MiB

// limits checks the fair-sharing limits of table that check says to (the
// ones it sets; [user_defaults] are checked where they are written).
func (l *loader) limits(lim UserLimits, table string, s S3, check func(key string) bool) {
	for _, m := range []struct {
		key string
		v   int
	}{{"max_upload_mbps", lim.MaxUploadMBps}, {"max_download_mbps", lim.MaxDownloadMBps}} {
		if check(m.key) && (m.v < 0 || m.v > maxMBps) {
			l.errf(table+"."+m.key, "must be from 0 (no cap) to %d MB/s, got %d", maxMBps, m.v)
		}
	}
	const k = "read_ahead_memory_per_user"
	if v, budget := lim.ReadAheadMemoryPerUser, s.ReadAheadMemory; check(k) && !l.failed[table+"."+k] && (v < minReadAheadMemory || v > budget) {
		l.errf(table+"."+k, "must be from %v to s3.read_ahead_memory (%v), got %v", minReadAheadMemory, budget, v)
	}
	const u = "upload_memory_per_user"
	if v := lim.UploadMemoryPerUser; check(u) && !l.failed[table+"."+u] && (v < s.PartSize || v > s.UploadMemory) {
		l.errf(table+"."+u, "must be from s3.part_size (%v) to s3.upload_memory (%v), got %v", s.PartSize, s.UploadMemory, v)
	}
	if check("max_open_files") && lim.MaxOpenFiles < 0 {
		l.errf(table+".max_open_files", "must be 0 (no cap) or more, got %d", lim.MaxOpenFiles)
	}
}

// bucketOf returns the bucket a user's home is in.
func bucketOf(u User, s S3) string {
	if u.Bucket != "" {
		return u.Bucket
	}
	return s.Bucket
}

// homeProblem returns what is wrong with a home prefix, or "".
func homeProblem(h string) string { return tree.PrefixProblem(h) }

// badChars names what makes s unusable as a name or key, or returns "".
func badChars(s string) string { return tree.BadChars(s) }

// bucketName checks what is certainly not a bucket name; the store checks
// the rest, as S3-compatible stores differ. An access point ARN is
// accepted (aliases look like bucket names).
func (l *loader) bucketName(key, b string) {
	if bad := badChars(b); bad != "" {
		l.errf(key, "must not contain %s", bad)
	} else if strings.HasPrefix(b, "arn:") {
		if !accessPointARN.MatchString(b) {
			l.errf(key, `must be a bucket name or an access point ARN such as "arn:aws:s3:us-east-1:123456789012:accesspoint/acme", got %q`, b)
		}
	} else if strings.Contains(b, "/") {
		l.errf(key, `must be a bucket name without "/"; put the prefix in home`)
	}
}

var (
	accessPointARN = regexp.MustCompile(`^arn:aws[a-z-]*:s3:[a-z0-9-]+:[0-9]{12}:accesspoint/[a-z0-9-]{3,50}$`)
	roleARN        = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	externalID     = regexp.MustCompile(`^[A-Za-z0-9+=,.@:/_-]+$`) // 2 to 1224 long, checked apart (regexp repeats stop at 1000)
	sourceIdentity = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{2,64}$`)
)

// userRole checks role_arn and external_id: the role must be a role ARN,
// the user name must be usable as the session's SourceIdentity, and an
// access point alias cannot be named in a session policy.
func (l *loader) userRole(u *User, key, bucket string) {
	if u.ExternalID != "" && u.RoleARN == "" {
		l.errf(key+".external_id", "is only used with role_arn")
	}
	if n := len(u.ExternalID); n > 0 && (n < 2 || n > 1224 || !externalID.MatchString(u.ExternalID)) {
		l.errf(key+".external_id", "must be 2 to 1224 letters, digits or +=,.@:/_-")
	}
	if u.RoleARN == "" {
		return
	}
	if !roleARN.MatchString(u.RoleARN) {
		l.errf(key+".role_arn", `must be an IAM role ARN such as "arn:aws:iam::123456789012:role/sftp-acme", got %q`, u.RoleARN)
	}
	if u.Name != "" && !sourceIdentity.MatchString(u.Name) {
		l.errf(key+".role_arn", "needs a user name of 2 to 64 letters, digits or +=,.@_- (it is the role session's SourceIdentity)")
	}
	if strings.HasSuffix(bucket, "-s3alias") {
		l.errf(key+".role_arn", "cannot scope a session policy to an access point alias: use the access point ARN as bucket")
	}
}

// required reports a missing or empty key of the table at table, and
// whether it has a value.
func (l *loader) required(table, key, v string) bool {
	path := table + "." + key
	switch {
	case v != "":
		return true
	case l.failed[path]:
	case l.present[path]:
		l.errf(path, "must not be empty")
	default:
		l.msgf(table, "missing required key %q", path)
	}
	return false
}

// nonEmpty reports a key set to "" and whether v is non-empty.
func (l *loader) nonEmpty(path, v string) bool {
	if v == "" && !l.failed[path] {
		l.errf(path, "must not be empty")
	}
	return v != ""
}
