// Package config owns the s3sftpd configuration file: strict TOML decoding,
// defaults, validation, and error reports in file:line:col form.
//
// Load reports every problem it finds in one pass, so an operator fixes a
// file in one round. Unknown keys are errors, never ignored: a misspelled
// key must not silently change what a partner may do.
//
// Config is plain data. The package must not open connections, start
// goroutines, create files or directories, or hold global state; it reads
// the config file and the keys files it names, nothing else. Only cmd
// imports it, and cmd turns a Config into the values the other packages take.
package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/stricttoml"
	"github.com/s3sftpd/s3sftpd/memlimit"
	"github.com/s3sftpd/s3sftpd/pgp"
)

// Config is the whole configuration file.
type Config struct {
	Server   Server   `toml:"server"`
	S3       S3       `toml:"s3"`
	Embedded Embedded `toml:"embedded"`
	Audit    Audit    `toml:"audit"`
	Defender Defender `toml:"defender"`
	// Encryption is gateway-side encryption of contents and names.
	Encryption Encryption `toml:"encryption"`
	Admin      Admin      `toml:"admin"`
	Scan       Scan       `toml:"scan"` // content gates (gates.go)
	PGP        PGP        `toml:"pgp"`
	Events     Events     `toml:"events"` // events.go
	// UserDefaults are the fair-sharing limits of every user that does
	// not set its own.
	UserDefaults UserLimits `toml:"user_defaults"`
	// Groups are folder layouts shared by the users that name them.
	Groups []Group `toml:"groups"`
	Users  []User  `toml:"users"`

	// Memory is how the memory limit splits; Load works it out.
	Memory memlimit.Split `toml:"-"`
}

// UserLimits keep one partner from taking the bandwidth or memory the
// others need. Each [[users]] table may set any of them too.
type UserLimits struct {
	// MaxUploadMBps caps the MB (10^6 bytes) per second all of a user's
	// SFTP sessions together send to the gateway; 0 is no cap.
	MaxUploadMBps int `toml:"max_upload_mbps"`
	// MaxDownloadMBps caps what they receive from it; 0 is no cap.
	MaxDownloadMBps int `toml:"max_download_mbps"`
	// ReadAheadMemoryPerUser is the most of S3.ReadAheadMemory that all of
	// a user's open downloads together may hold.
	ReadAheadMemoryPerUser Size `toml:"read_ahead_memory_per_user"`
	// UploadMemoryPerUser is the most of S3.UploadMemory that all of a
	// user's uploads together hold: a user at it waits, others go on.
	// Unset: a quarter of upload_memory, at least part_size + 16 MiB. It
	// also bounds the largest part, and so the largest file.
	UploadMemoryPerUser Size `toml:"upload_memory_per_user"`
	// MaxOpenFiles caps the files one session has open for reading or
	// writing; 0 is no cap. Every open file holds memory, and OpenSSH's
	// sftp-server has no cap, so the default (64) is generous.
	MaxOpenFiles int `toml:"max_open_files"`
}

// Server configures the SSH listener and its connection limits.
type Server struct {
	// Listen is the host:port to accept SSH connections on.
	Listen string `toml:"listen"`
	// HostKeyDir holds the server's private host keys, resolved against
	// the config file's directory.
	HostKeyDir string `toml:"host_key_dir"`
	// IdleTimeout closes a connection with no traffic for this long.
	IdleTimeout Duration `toml:"idle_timeout"`
	// LoginTimeout bounds the SSH handshake and authentication together,
	// so unauthenticated connections cannot be held open.
	LoginTimeout Duration `toml:"login_timeout"`
	// MaxAuthTries is the number of failed authentication attempts after
	// which a connection is closed.
	MaxAuthTries int `toml:"max_auth_tries"`
	// DrainTimeout is how long shutdown lets uploads commit or abort.
	DrainTimeout Duration `toml:"drain_timeout"`
	// KeepaliveInterval is the interval between keepalive requests.
	KeepaliveInterval Duration `toml:"keepalive_interval"`
	// KeepaliveCountMax unanswered keepalives close the connection.
	KeepaliveCountMax int `toml:"keepalive_count_max"`
	// ProxyProtocol: every connection must start with a PROXY protocol
	// header (v1 or v2) from one of TrustedProxies, whose client address
	// then goes to logs and audit. Connections from anywhere else are
	// refused, since a header can claim any address.
	ProxyProtocol bool `toml:"proxy_protocol"`
	// TrustedProxies are the CIDRs (or addresses) of the load balancers.
	TrustedProxies []string `toml:"trusted_proxies"`
	// Crypto is the algorithm policy: "modern", "compatible" or "fips".
	Crypto string `toml:"crypto"`
	// MinRSABits is the smallest RSA user key accepted: 2048 or more.
	MinRSABits int `toml:"min_rsa_bits"`
	// TrustedUserCAKeys is a file of CA public keys (authorized_keys
	// format, no options) whose user certificates log in as the user
	// named in their principals; resolved against the config's directory.
	TrustedUserCAKeys string `toml:"trusted_user_ca_keys"`
	// MaxSessionsPerConnection caps the sftp sessions (SSH session
	// channels) open at once on one connection, like OpenSSH's MaxSessions.
	MaxSessionsPerConnection int `toml:"max_sessions_per_connection"`
	// MemoryLimit is the most memory (RSS) the gateway may use: Go's soft
	// limit is set from it, the budgets are sized from it when the config
	// does not set them, and sessions past its room wait or are refused.
	// Unset: the container's cgroup limit, else derived from the budgets.
	MemoryLimit Size `toml:"memory_limit"`
	// MemoryWait bounds how long a new session waits for room under the
	// memory limit; past it the session is refused as "server busy".
	MemoryWait Duration `toml:"memory_wait"`
	// TempSuffixes end the temporary names clients upload to and then rename
	// onto the real name (".filepart", ".*.partial" where "*" is one
	// dot-free segment). Such an upload is completed by its rename, without
	// a copy, and can be resumed. Empty: WinSCP's and rclone's.
	TempSuffixes []string `toml:"temp_suffixes"`

	// UserCAKeys are the keys of TrustedUserCAKeys.
	UserCAKeys []ssh.PublicKey `toml:"-"`
}

// S3 configures the object store.
type S3 struct {
	// Endpoint is "embedded" (an in-process store under Embedded.Dir),
	// "" (AWS, endpoint from the region) or an http(s) URL of an
	// S3-compatible store.
	Endpoint string `toml:"endpoint"`
	Region   string `toml:"region"`
	// Bucket is the default bucket of users without their own.
	Bucket    string `toml:"bucket"`
	PathStyle bool   `toml:"path_style"`
	// SSE is the server-side encryption of every object written:
	// "AES256" or "aws:kms". No value disables encryption.
	SSE string `toml:"sse"`
	// KMSKeyID is the KMS key for SSE "aws:kms"; empty means the
	// AWS-managed aws/s3 key.
	KMSKeyID string `toml:"kms_key_id"`
	// Checksums is "aws" (CRC32C per part and whole object) or "compat" (none, for
	// stores that reject them).
	Checksums string `toml:"checksums"`
	// PartSize is the multipart upload part size, 5MiB to 5GiB.
	PartSize Size `toml:"part_size"`
	// UploadMemory bounds the memory of all uploads of the process.
	UploadMemory Size `toml:"upload_memory"`
	// UploadMemoryWait bounds how long a write waits for upload memory;
	// past it the write (and its upload) fails with a message saying why.
	UploadMemoryWait Duration `toml:"upload_memory_wait"`
	// ReadAheadMemory bounds the blocks all downloads of the process fetch
	// ahead of the clients' reads.
	ReadAheadMemory Size `toml:"read_ahead_memory"`
	// OrphanUploadAge: a multipart upload under a user's home initiated
	// longer ago than this is taken for the orphan of a crashed gateway
	// and aborted. A shorter age can abort an upload another gateway
	// behind the same load balancer is still writing (that upload then
	// fails; nothing partial becomes visible), so it must exceed the
	// longest upload expected.
	OrphanUploadAge Duration `toml:"orphan_upload_age"`
	// OrphanSweepEvery is how often orphans are looked for after the
	// sweep at start-up; 0 sweeps at start-up only.
	OrphanSweepEvery Duration `toml:"orphan_sweep_every"`
	// RetryMode is the SDK's retry strategy for a failed S3 request:
	// "standard" (exponential backoff with jitter) or "adaptive" (which
	// also slows all requests down while S3 throttles).
	RetryMode string `toml:"retry_mode"`
	// STSEndpoint is the URL of the STS service for users' role_arn; ""
	// means AWS's regional endpoint.
	STSEndpoint string `toml:"sts_endpoint"`
	// MaxAttempts bounds the tries of one S3 request, the first included.
	// A transfer whose request fails this often fails to the client.
	MaxAttempts int `toml:"max_attempts"`
	// RequireCompliant makes serve refuse to start when a bucket check of
	// `s3sftpd doctor` FAILs (UNKNOWN is logged, not refused).
	RequireCompliant bool `toml:"require_compliant"`
	// MaxPresignTTL caps the validity of URLs from `s3sftpd presign`: a
	// leaked URL is a download of PHI by anyone until it expires.
	MaxPresignTTL Duration `toml:"max_presign_ttl"`
}

// Embedded configures the in-process store used when S3.Endpoint is
// "embedded".
type Embedded struct {
	// Dir is where the embedded store keeps its objects, resolved against
	// the config file's directory.
	Dir string `toml:"dir"`
}

// Admin configures the operators' HTTP listener: /metrics (Prometheus),
// /healthz and /readyz.
type Admin struct {
	// Listen is the host:port of the admin listener; "" turns it off. It
	// has no authentication: keep it on loopback or a management network.
	Listen string `toml:"listen"`
}

// User is one login: an SSH user name, the keys that may log in as it and
// the S3 prefix it is jailed to.
type User struct {
	Name string `toml:"name"`
	// Home is the user's jail at "/": an S3 key prefix such as
	// "partners/acme/". The user can reach nothing outside it and its
	// folders. Several users may share a home; no home is nested inside
	// another one in the same bucket. Optional for a user with folders:
	// "/" then only lists them.
	Home string `toml:"home"`
	// Groups name the [[groups]] whose folders the user gets, in order.
	Groups []string `toml:"groups"`
	// Folders are the user's own, added to its groups' (one at the path
	// of a group's folder replaces it).
	Folders []Folder `toml:"folders"`
	// Tree is every place the user reaches, the home (if any) first; Load
	// resolves it.
	Tree []Mount `toml:"-"`
	// Keys are authorized_keys lines.
	Keys []string `toml:"keys"`
	// KeysFile is an authorized_keys file, resolved against the config
	// file's directory.
	KeysFile string `toml:"keys_file"`
	// Permissions lists what the user may do, from AllPermissions. Nil
	// (omitted) grants all of them; an explicitly empty list is rejected.
	Permissions []string `toml:"permissions"`
	// Bucket overrides S3.Bucket for this user. An S3 access point ARN or
	// alias works too.
	Bucket string `toml:"bucket"`
	// RoleARN, if set, is an IAM role the gateway assumes for this user's
	// S3 calls, with a session policy limiting it to the user's home and
	// permissions and SourceIdentity set to the user name.
	RoleARN string `toml:"role_arn"`
	// ExternalID is passed with RoleARN, when the role's trust policy
	// requires one (cross-account roles).
	ExternalID string `toml:"external_id"`
	// LegacyRSASHA1 lets the user's RSA keys sign with ssh-rsa (SHA-1),
	// for clients too old for rsa-sha2-256/512.
	LegacyRSASHA1 bool `toml:"legacy_rsa_sha1"`
	// AllowFrom lists the CIDRs (or addresses) the user may log in from;
	// omitted means any.
	AllowFrom []string `toml:"allow_from"`

	// Auth lists the authentication methods the user must pass, all of
	// them: ["publickey"] (the default), ["password"], or both.
	Auth []string `toml:"auth"`
	// PasswordHash is an argon2id (PHC string) or bcrypt hash, never a
	// password; `s3sftpd hash-password` makes one.
	PasswordHash string `toml:"password_hash"`

	// Methods is Auth parsed; 0 when Auth is omitted (publickey).
	Methods auth.Methods `toml:"-"`
	// Password is PasswordHash parsed; nil without one.
	Password *auth.PasswordHash `toml:"-"`
	// AllowFromPrefixes is AllowFrom parsed; nil when AllowFrom is omitted.
	AllowFromPrefixes []netip.Prefix `toml:"-"`

	// MaxUploadMBps, MaxDownloadMBps, ReadAheadMemoryPerUser,
	// UploadMemoryPerUser and MaxOpenFiles: see UserLimits; omitted, the
	// [user_defaults] value (Load fills it in).
	MaxUploadMBps          int  `toml:"max_upload_mbps"`
	MaxDownloadMBps        int  `toml:"max_download_mbps"`
	ReadAheadMemoryPerUser Size `toml:"read_ahead_memory_per_user"`
	UploadMemoryPerUser    Size `toml:"upload_memory_per_user"`
	MaxOpenFiles           int  `toml:"max_open_files"`

	// PublicKeys holds every key parsed from Keys and KeysFile. Only these
	// keys may log in as the user.
	PublicKeys []auth.AuthorizedKey `toml:"-"`
	// MissingKeysFile is set, instead of an error, when KeysFile does not
	// exist and S3.Endpoint is "embedded": cmd then generates a demo key
	// pair there and loads the config again.
	MissingKeysFile bool `toml:"-"`

	PGPPublicKeysFile string `toml:"pgp_public_keys_file"` // the partner's OpenPGP keys (gates.go)
	// Scan, PGP and PGPRequireSignature are the home's content gates, as a folder's (tree.Folder).
	Scan                bool       `toml:"scan"`
	PGP                 string     `toml:"pgp"`
	PGPRequireSignature bool       `toml:"pgp_require_signature"`
	PGPPublicKeys       []*pgp.Key `toml:"-"` // PGPPublicKeysFile loaded and validated
}

// AllPermissions are the permission names a user may be granted, in
// order. Callers must not modify it.
var AllPermissions = []string{"list", "read", "write", "overwrite", "delete", "rename", "mkdir"}

const (
	// EndpointEmbedded selects the in-process store.
	EndpointEmbedded = "embedded"

	minPartSize = 5 * MiB
	maxPartSize = 5 * GiB

	// minReadAheadMemory is one read-ahead block: less reads nothing ahead.
	minReadAheadMemory = MiB
	// maxMBps bounds max_upload_mbps and max_download_mbps: 100 GB/s is
	// no cap anyone means, so a larger number is a typo.
	maxMBps = 100_000
	// maxSessionsPerConnection bounds max_sessions_per_connection; each
	// session is its own sftp server with its own open files.
	maxSessionsPerConnection = 1000

	// minOrphanUploadAge is the smallest orphan_upload_age. Any age is
	// safe for data (an abort never makes anything visible, and a
	// gateway never aborts its own uploads in flight); only uploads of
	// other gateways younger than the age are at risk, which no minimum
	// can rule out, so it only refuses 0 (abort everything) and typos
	// such as "24" meaning hours. cmd warns below an hour.
	minOrphanUploadAge = time.Second
	// minOrphanSweepEvery: each sweep lists every home; more often than
	// once a minute only costs requests. (Its messages say "1m".)
	minOrphanSweepEvery = time.Minute
)

// defaults returns a Config holding the default of every key.
func defaults() *Config {
	return &Config{
		Server: Server{
			Listen:            "127.0.0.1:2022",
			HostKeyDir:        "./data/hostkeys",
			IdleTimeout:       Duration{15 * time.Minute},
			LoginTimeout:      Duration{30 * time.Second},
			MaxAuthTries:      3,
			DrainTimeout:      Duration{30 * time.Second},
			KeepaliveInterval: Duration{30 * time.Second},
			KeepaliveCountMax: 3,
			MinRSABits:        minRSABits,
			Crypto:            "compatible",

			MaxSessionsPerConnection: 10,
			MemoryWait:               Duration{time.Minute},
		},
		S3: S3{
			Endpoint:         EndpointEmbedded,
			Region:           "us-east-1",
			SSE:              "AES256",
			Checksums:        "compat",
			PartSize:         16 * MiB,
			UploadMemory:     512 * MiB,
			UploadMemoryWait: Duration{time.Minute},

			ReadAheadMemory: 256 * MiB,

			OrphanUploadAge:  Duration{24 * time.Hour},
			OrphanSweepEvery: Duration{time.Hour},
			RetryMode:        "standard",
			MaxAttempts:      5,
			MaxPresignTTL:    Duration{5 * time.Minute},
		},
		Embedded:     Embedded{Dir: "./data/s3"},
		UserDefaults: UserLimits{ReadAheadMemoryPerUser: 64 * MiB, MaxOpenFiles: 64},
		Defender:     defaultDefender(),
		Scan:         Scan{OnUnavailable: "refuse", MaxSize: GiB},
		Encryption:   Encryption{Mode: EncryptionSSE, Names: NamesPlain, FormatV1: FormatV1Read},
		Audit: Audit{
			File:      "./data/audit/audit.jsonl",
			Paths:     AuditPathsPlain,
			OnFailure: AuditDeny,
			S3Prefix:  "audit/",

			RotateSize:      64 * MiB,
			RotateEvery:     Duration{time.Hour},
			CheckpointEvery: Duration{time.Minute},
		},
	}
}

// Load reads, decodes and validates the config file at path. Relative
// paths in it are resolved against the file's directory.
//
// On any problem Load returns a nil Config and an [Errors] listing every
// problem found, sorted by position.
func Load(path string) (*Config, error) { return LoadIn(path, memlimit.Cgroup{}) }

// LoadIn is Load for a process running in container c, whose memory
// limit bounds server.memory_limit and, when the config sets none,
// replaces it.
func LoadIn(path string, c memlimit.Cgroup) (*Config, error) {
	l := &loader{
		file: path,
		dir:  filepath.Dir(path),
	}
	cfg := defaults()
	if l.decode(cfg) {
		l.validate(cfg, c)
	}
	if err := l.errs.sorted(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loader holds the state of one Load.
type loader struct {
	file string // the config path as given
	dir  string // its directory
	md   toml.MetaData
	idx  *stricttoml.Index
	errs Errors

	minRSABits int // server.min_rsa_bits, once validated

	present map[string]bool // key paths set in the file
	failed  map[string]bool // key paths whose value could not be decoded
}

// decode reads and decodes the file into cfg, which holds the defaults,
// strictly (see stricttoml). It reports whether there is anything to
// validate.
func (l *loader) decode(cfg *Config) bool {
	src, err := os.ReadFile(l.file)
	if err != nil {
		l.errs = append(l.errs, &Error{File: l.file, Line: 1, Col: 1, Msg: oneLine(err.Error()), err: err})
		return false
	}
	r := stricttoml.Decode(src, cfg)
	for _, p := range r.Problems {
		l.addAt(l.file, p.Pos, "%s", p.Msg)
	}
	if r.Syntax {
		return false
	}
	l.idx, l.present, l.failed = r.Index, r.Present, r.Failed
	return true
}

// resolve returns p relative to the config file's directory.
func (l *loader) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}
