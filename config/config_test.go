package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/memlimit"
)

// copyExample copies ../config.example.toml into a new directory, so that
// files a developer created beside it do not change the test, and returns
// its path.
func copyExample(t *testing.T, edit func(string) string) string {
	t.Helper()
	data, err := os.ReadFile("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.example.toml")
	if err := os.WriteFile(path, []byte(edit(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoad_Example(t *testing.T) {
	path := copyExample(t, func(s string) string { return s })
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("got err = %v; want nil", err)
	}
	dir := filepath.Dir(path)
	want := defaults()
	want.Server.HostKeyDir = filepath.Join(dir, "data/hostkeys")
	want.S3.Bucket = "partner-drop"
	want.S3.PathStyle = true
	want.Embedded.Dir = filepath.Join(dir, "data/s3")
	want.Audit.File = filepath.Join(dir, "data/audit/audit.jsonl")
	want.UserDefaults.UploadMemoryPerUser = 128 * MiB // a quarter of upload_memory
	// no memory_limit, no container: the budgets, 64 sessions and base, and a quarter more
	want.Memory = memlimit.Split{Limit: 1430 * mb, From: "derived", Uploads: 512 * mb, ReadAhead: 256 * mb, Sessions: 256 * mb,
		Base: 48 * mb, Runtime: 358 * mb, SoftLimit: 1287 * mb}
	want.Users = []User{{
		Name:            "demo",
		Home:            "partners/demo/",
		KeysFile:        filepath.Join(dir, "data/demo/id_ed25519.pub"),
		MissingKeysFile: true,
		Tree:            []Mount{{Path: "/", Bucket: "partner-drop", Prefix: "partners/demo/", Perms: auth.AllPerms, Key: "users[0]"}},

		ReadAheadMemoryPerUser: 64 * MiB,
		MaxOpenFiles:           64, UploadMemoryPerUser: 128 * MiB, // from [user_defaults]
	}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Load(example) mismatch (-want +got):\n%s", diff)
	}
}

// TestLoad_ExampleDocumented checks that every key of Config appears in the
// example, so that the reference cannot miss one.
func TestLoad_ExampleDocumented(t *testing.T) {
	data, err := os.ReadFile("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"listen", "host_key_dir", "idle_timeout", "login_timeout", "max_auth_tries", "drain_timeout",
		"keepalive_interval", "keepalive_count_max", "proxy_protocol", "trusted_proxies",
		"endpoint", "region", "bucket", "path_style", "sse", "kms_key_id", "checksums", "part_size", "upload_memory",
		"orphan_upload_age", "orphan_sweep_every", "require_compliant", "max_presign_ttl",
		"dir", "name", "home", "keys", "keys_file", "permissions", "role_arn", "external_id", "sts_endpoint",
		"enabled", "ip_failures", "user_failures", "window", "ban_time", "ban_time_max", "allow",
		"max_unauthenticated_per_ip", "max_unauthenticated", "early_drop", "max_sessions_per_user", "allow_from", "min_rsa_bits", "legacy_rsa_sha1", "auth", "password_hash", "trusted_user_ca_keys", "crypto", "temp_suffixes",
		"max_sessions_per_connection", "read_ahead_memory", "max_upload_mbps", "max_download_mbps", "read_ahead_memory_per_user",
		"max_open_files", "upload_memory_per_user", "upload_memory_wait", "memory_limit", "memory_wait",
		"groups", "path", "prefix",
	} {
		if !regexp.MustCompile(`(?m)^#? ?` + key + ` = .*# `).Match(data) {
			t.Errorf("got no documented %q line in config.example.toml; want one", key)
		}
	}
}

// TestLoad_ExampleSecondUser uncomments the example's second user and its
// partner with folders.
func TestLoad_ExampleSecondUser(t *testing.T) {
	path := copyExample(t, func(s string) string {
		_, second, _ := strings.Cut(s, "# [[users]]")
		// uncomment the TOML lines, not the prose between them
		return s + "\n[[users]]" + regexp.MustCompile(`(?m)^# (\[|[a-z_]+ = |  +"|\])`).ReplaceAllString(second, "$1")
	})
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("got err = %v; want nil", err)
	}
	if got := len(cfg.Users); got != 3 {
		t.Fatalf("got %d users; want 3 (the drop box and the partner with folders)", got)
	}
	u := cfg.Users[1]
	if got, want := u.Permissions, []string{"write", "mkdir"}; !cmp.Equal(got, want) {
		t.Errorf("got permissions = %q; want %q", got, want)
	}
	if got, want := u.Bucket, "acme-drop"; got != want {
		t.Errorf("got bucket = %q; want %q", got, want)
	}
	if got := len(u.PublicKeys); got != 1 {
		t.Errorf("got %d keys; want 1", got)
	}
	want := []Mount{
		{Path: "/inbound", Bucket: "phi-inbound", Prefix: "inbound/lab/", Perms: auth.PermWrite | auth.PermMkdir, Key: "groups[0].folders[0]"},
		{Path: "/outbound", Bucket: "partner-drop", Prefix: "outbound/lab/", Perms: auth.PermList | auth.PermRead | auth.PermDelete,
			Lifecycle: auth.Lifecycle{DeleteAfterDownload: true, Retention: 30 * 24 * time.Hour, NotPickedUpAfter: 48 * time.Hour}, Key: "groups[0].folders[1]"},
		{Path: "/reports/monthly", Bucket: "partner-drop", Prefix: "reports/lab/", Perms: auth.PermList | auth.PermRead, Key: "users[2].folders[0]"},
	}
	if diff := cmp.Diff(want, cfg.Users[2].Tree); diff != "" {
		t.Errorf("the example partner's tree mismatch (-want +got):\n%s", diff)
	}
}

func TestLoad_Defaults(t *testing.T) {
	cfg, dir := mustLoad(t, valid, nil)
	want := defaults()
	want.Server.HostKeyDir = filepath.Join(dir, "data/hostkeys")
	if diff := cmp.Diff(want.Server, cfg.Server); diff != "" {
		t.Errorf("server mismatch (-want +got):\n%s", diff)
	}
	want.S3.Bucket = "b"
	if diff := cmp.Diff(want.S3, cfg.S3); diff != "" {
		t.Errorf("s3 mismatch (-want +got):\n%s", diff)
	}
	if got := cfg.Users[0].Permissions; got != nil {
		t.Errorf("got permissions = %#v; want nil (all)", got)
	}
	if got, want := cfg.Server.IdleTimeout.Duration, 15*time.Minute; got != want {
		t.Errorf("got idle_timeout = %v; want %v", got, want)
	}
}

// mustLoad loads config (with test keys replaced) from a new directory
// holding files, and returns the directory.
// "ABS/" in config stands for that directory.
func mustLoad(t *testing.T, config string, files map[string]string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	config = strings.ReplaceAll(config, "ABS/", dir+"/")
	writeFiles(t, dir, files)
	writeFiles(t, dir, map[string]string{"config.toml": config})
	cfg, err := Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatalf("got err = %v; want nil", err)
	}
	return cfg, dir
}

func TestLoad_Valid(t *testing.T) {
	tests := []struct {
		name   string
		config string
		files  map[string]string
		check  func(t *testing.T, cfg *Config, dir string)
	}{
		{
			name: "limits",
			config: `[s3]
bucket = "b"
part_size = "16MiB"
upload_memory = "1GiB"

[user_defaults]
max_open_files = 10
upload_memory_per_user = "100MiB"

[[users]]
name = "inherits"
home = "a/"
keys = ["KEY_A"]

[[users]]
name = "own"
home = "b/"
keys = ["KEY_B"]
max_open_files = 0
upload_memory_per_user = "1GiB"
`,
			check: func(t *testing.T, cfg *Config, dir string) {
				want := UserLimits{MaxOpenFiles: 10, UploadMemoryPerUser: 100 * MiB, ReadAheadMemoryPerUser: 64 * MiB}
				if diff := cmp.Diff(want, cfg.UserDefaults); diff != "" {
					t.Errorf("limits mismatch (-want +got):\n%s", diff)
				}
				for i, w := range []struct {
					files int
					share Size
				}{{10, 100 * MiB}, {0, GiB}} {
					if u := cfg.Users[i]; u.MaxOpenFiles != w.files || u.UploadMemoryPerUser != w.share {
						t.Errorf("got %s max_open_files, upload_memory_per_user = %d, %v; want %d, %v", u.Name, u.MaxOpenFiles, u.UploadMemoryPerUser, w.files, w.share)
					}
				}
			},
		},
		{
			name:   "limits-default-share-small-budget",
			config: "[s3]\nbucket = \"b\"\npart_size = \"16MiB\"\nupload_memory = \"40MiB\"\n\n" + validUser,
			check: func(t *testing.T, cfg *Config, dir string) {
				// a quarter would not hold a part and the reorder window
				if got, want := cfg.Users[0].UploadMemoryPerUser, 32*MiB; got != want {
					t.Errorf("got upload_memory_per_user = %v; want %v", got, want)
				}
			},
		},
		{
			name: "values",
			config: `[server]
listen = ":2222"
host_key_dir = "/etc/s3sftpd/hostkeys"
idle_timeout = "1h30m"
max_auth_tries = 6

[s3]
endpoint = "https://s3.example.com:9000/base"
region = "eu-west-1"
bucket = "drop"
sse = "aws:kms"
kms_key_id = "alias/sftp"
checksums = "aws"
part_size = "5MiB"
upload_memory = "1GB"
orphan_upload_age = "48h"
orphan_sweep_every = "0s"
retry_mode = "adaptive"
max_attempts = 8

[embedded]
dir = "store"

` + validUser + `permissions = ["list", "read"]
`,
			check: func(t *testing.T, cfg *Config, dir string) {
				want := defaults()
				want.Server.Listen = ":2222"
				want.Server.HostKeyDir = "/etc/s3sftpd/hostkeys"
				want.Server.IdleTimeout = Duration{90 * time.Minute}
				want.Server.MaxAuthTries = 6
				want.S3 = S3{Endpoint: "https://s3.example.com:9000/base", Region: "eu-west-1", Bucket: "drop",
					SSE: "aws:kms", KMSKeyID: "alias/sftp", Checksums: "aws", PartSize: 5 * MiB, UploadMemory: 1e9,
					OrphanUploadAge: Duration{48 * time.Hour}, RetryMode: "adaptive", MaxAttempts: 8,
					MaxPresignTTL: Duration{5 * time.Minute}, ReadAheadMemory: 256 * MiB, UploadMemoryWait: Duration{time.Minute}}
				want.Embedded.Dir = filepath.Join(dir, "store")
				want.Audit.File = filepath.Join(dir, "data/audit/audit.jsonl")
				want.UserDefaults.UploadMemoryPerUser = 1e9 / 4
				want.Memory = cfg.Memory // TestLoad_Memory checks it
				cfg.Users = nil
				if diff := cmp.Diff(want, cfg); diff != "" {
					t.Errorf("mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "user-limits",
			config: "[server]\nmax_sessions_per_connection = 4\n[s3]\nbucket = \"b\"\nread_ahead_memory = \"64MiB\"\n" +
				"[user_defaults]\nmax_upload_mbps = 20\nmax_download_mbps = 10\nread_ahead_memory_per_user = \"8MiB\"\n" +
				validUser + "max_download_mbps = 0\n" +
				"[[users]]\nname = \"bob\"\nhome = \"bob/\"\nkeys = [\"KEY_B\"]\nmax_upload_mbps = 5\nread_ahead_memory_per_user = \"64MiB\"\n",
			check: func(t *testing.T, cfg *Config, dir string) {
				if got := cfg.Server.MaxSessionsPerConnection; got != 4 {
					t.Errorf("got max_sessions_per_connection = %d; want 4", got)
				}
				type limits struct {
					up, down int
					ahead    Size
				}
				want := []limits{{20, 0, 8 * MiB}, {5, 10, 64 * MiB}} // alice lifts the download cap; bob sets his own
				for i, u := range cfg.Users {
					if got := (limits{u.MaxUploadMBps, u.MaxDownloadMBps, u.ReadAheadMemoryPerUser}); got != want[i] {
						t.Errorf("user %s: got limits %+v; want %+v", u.Name, got, want[i])
					}
				}
			},
		},
		{
			name: "keys-and-keys-file",
			config: "s3.bucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\n" +
				"keys = [\n  'KEY_B',\n]\nkeys_file = \"keys/alice.pub\"\n",
			files: map[string]string{"keys/alice.pub": "# alice\n\n  KEY_A\r\n"},
			check: func(t *testing.T, cfg *Config, dir string) {
				u := cfg.Users[0]
				if got, want := u.KeysFile, filepath.Join(dir, "keys/alice.pub"); got != want {
					t.Errorf("got keys_file = %q; want %q", got, want)
				}
				var got []string
				for _, k := range u.PublicKeys {
					got = append(got, strings.Join([]string{ssh.FingerprintSHA256(k.Key), k.Comment,
						strings.Join(k.Options, ","), strings.TrimPrefix(k.Source, dir+"/")}, " "))
				}
				want := []string{
					fingerprint(t, keyB) + " bob@example  config.toml:6",
					fingerprint(t, keyA) + " ops@acme.example  keys/alice.pub:3",
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("keys mismatch (-want +got):\n%s", diff)
				}
				if u.MissingKeysFile {
					t.Errorf("got MissingKeysFile = true; want false")
				}
			},
		},
		{
			name:   "missing-keys-file-embedded",
			config: "s3.bucket = \"b\"\n[[users]]\nname = \"demo\"\nhome = \"demo/\"\nkeys_file = \"data/demo.pub\"\n",
			check: func(t *testing.T, cfg *Config, dir string) {
				if u := cfg.Users[0]; !u.MissingKeysFile || len(u.PublicKeys) != 0 {
					t.Errorf("got MissingKeysFile = %v, %d keys; want true, 0", u.MissingKeysFile, len(u.PublicKeys))
				}
			},
		},
		{
			name:   "absolute-keys-file",
			config: "s3.bucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys_file = \"ABS/alice.pub\"\n",
			files:  map[string]string{"alice.pub": "KEY_A\n"},
			check: func(t *testing.T, cfg *Config, dir string) {
				if got := len(cfg.Users[0].PublicKeys); got != 1 {
					t.Errorf("got %d keys; want 1", got)
				}
			},
		},
		{
			name: "every-user-has-a-bucket",
			config: "[[users]]\nname = \"a\"\nhome = \"x/\"\nkeys = [\"KEY_A\"]\nbucket = \"one\"\n" +
				"[[users]]\nname = \"b\"\nhome = \"x/y/\"\nkeys = [\"KEY_B\"]\nbucket = \"two\"\n",
			check: func(t *testing.T, cfg *Config, dir string) {
				if got := cfg.S3.Bucket; got != "" {
					t.Errorf("got s3.bucket = %q; want empty", got)
				}
			},
		},
		{
			// An access point may be the bucket of another user, so homes must
			// not nest; side by side they are fine.
			name: "access-points-beside-a-bucket",
			config: valid + "[[users]]\nname = \"bob\"\nhome = \"bob/\"\nkeys = [\"KEY_B\"]\nbucket = \"arn:aws:s3:us-east-1:123456789012:accesspoint/bob\"\n" +
				"[[users]]\nname = \"carol\"\nhome = \"bob-2/\"\nkeys = [\"KEY_B\"]\n",
			check: func(t *testing.T, cfg *Config, dir string) {
				if got := len(cfg.Users); got != 3 {
					t.Errorf("got %d users; want 3", got)
				}
			},
		},
		{
			name: "shared-home",
			config: valid + "[[users]]\nname = \"bob\"\nhome = \"alice/\"\nkeys = [\"KEY_B\"]\n" +
				"[[users]]\nname = \"carol\"\nhome = \"alice-2/\"\nkeys = [\"KEY_B\"]\n",
			check: func(t *testing.T, cfg *Config, dir string) {
				if got := len(cfg.Users); got != 3 {
					t.Errorf("got %d users; want 3", got)
				}
			},
		},
		{
			name: "inline-tables",
			config: "server = { listen = \"127.0.0.1:0\" }\ns3 = { bucket = \"b\", part_size = \"8MiB\" }\n" +
				"users = [{ name = \"a\", home = \"a/\", keys = [\"KEY_A\"] }]\n",
			check: func(t *testing.T, cfg *Config, dir string) {
				if got, want := cfg.S3.PartSize, 8*MiB; got != want {
					t.Errorf("got part_size = %v; want %v", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir := mustLoad(t, tt.config, tt.files)
			tt.check(t, cfg, dir)
		})
	}
}

func fingerprint(t *testing.T, line string) string {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(k)
}

func TestLoad_Audit(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef" // 32 bytes
	write := func(t *testing.T, config, keyFile string, mode os.FileMode) string {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"config.toml": config})
		if keyFile != "" {
			if err := os.WriteFile(filepath.Join(dir, "audit.key"), []byte(keyFile), mode); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	t.Run("all-keys", func(t *testing.T) {
		dir := write(t, `[audit]
file = "/var/log/s3sftpd/audit.jsonl"
stdout = true
hmac_key_file = "audit.key"
paths = "hmac"
on_failure = "continue"
s3_bucket = "audit-trail"
s3_prefix = "gw1/"
rotate_size = "8MiB"
rotate_every = "0s"
checkpoint_every = "10s"
`+valid, key, 0o600)
		cfg, err := Load(filepath.Join(dir, "config.toml"))
		if err != nil {
			t.Fatalf("Load = %v", err)
		}
		want := Audit{File: "/var/log/s3sftpd/audit.jsonl", Stdout: true, HMACKeyFile: filepath.Join(dir, "audit.key"),
			Paths: "hmac", OnFailure: "continue", S3Bucket: "audit-trail", S3Prefix: "gw1/", HMACKey: []byte(key),
			RotateSize: 8 * MiB, RotateEvery: Duration{0}, CheckpointEvery: Duration{10 * time.Second}}
		if diff := cmp.Diff(want, cfg.Audit); diff != "" {
			t.Errorf("audit mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		dir := write(t, valid, "", 0)
		cfg, err := Load(filepath.Join(dir, "config.toml"))
		if err != nil {
			t.Fatalf("Load = %v", err)
		}
		want := defaults().Audit
		want.File = filepath.Join(dir, "data/audit/audit.jsonl")
		if diff := cmp.Diff(want, cfg.Audit); diff != "" {
			t.Errorf("audit mismatch (-want +got):\n%s", diff)
		}
		if want.OnFailure != "deny" || want.Paths != "plain" {
			t.Errorf("default on_failure %q, paths %q; want deny, plain", want.OnFailure, want.Paths)
		}
		if want.RotateSize != 64*MiB || want.RotateEvery.Duration != time.Hour || want.CheckpointEvery.Duration != time.Minute {
			t.Errorf("default rotate_size %v, rotate_every %v, checkpoint_every %v; want 64MiB, 1h, 1m",
				want.RotateSize, want.RotateEvery, want.CheckpointEvery)
		}
	})
	t.Run("short-key", func(t *testing.T) {
		dir := write(t, "[audit]\nhmac_key_file = \"audit.key\"\n"+valid, "too short", 0o600)
		_, err := Load(filepath.Join(dir, "config.toml"))
		if err == nil || !strings.Contains(err.Error(), "holds 9 bytes; an HMAC key needs at least 32") {
			t.Errorf("Load with a 9-byte key = %v; want a too-short error", err)
		}
		if err != nil && strings.Contains(err.Error(), "too short") {
			t.Errorf("error quotes the key: %v", err)
		}
	})
}
