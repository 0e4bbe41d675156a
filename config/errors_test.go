package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/errors.golden")

// valid is a minimal valid config; cases below change one thing in it.
const (
	validUser = `[[users]]
name = "alice"
home = "alice/"
keys = ["KEY_A"]
`
	valid = "[s3]\nbucket = \"b\"\n\n" + validUser

	// folderGroup is the partner layout of the folders issue.
	folderGroup = `[s3]
bucket = "b"
[[groups]]
name = "partners"
[[groups.folders]]
path = "/inbound"
prefix = "inbound/{user}/"
permissions = ["write"]
[[groups.folders]]
path = "/outbound"
prefix = "outbound/{user}/"
permissions = ["list", "read", "delete"]
`
)

// partner is a [[users]] table for name with KEY_A and the extra lines.
func partner(name, extra string) string {
	return "[[users]]\nname = \"" + name + "\"\nkeys = [\"KEY_A\"]\n" + extra + "\n"
}

// errorCases hold configs with problems. The lines Load reports for each
// are in testdata/errors.golden, under "# name". In configs and files,
// KEY_A, KEY_B, KEY_RSA1024, KEY_RSA2048, KEY_DSA and KEY_CERT stand for test keys.
var errorCases = []struct {
	name   string
	config string
	files  map[string]string // more files, relative to the config's directory
}{
	// Syntax.
	{name: "syntax-unclosed-header", config: "[server\nlisten = \"x\"\n"},
	{name: "syntax-missing-value", config: "[server]\nlisten =\n"},
	{name: "syntax-duplicate-key", config: "[server]\nlisten = \"a:1\"\nlisten = \"b:2\"\n"},
	{name: "syntax-duplicate-table", config: "[server]\n[server]\n"},

	// Unknown keys, in every section.
	{name: "unknown-top-level-key", config: "bucket = \"b\"\n" + valid},
	{name: "unknown-top-level-table", config: valid + "[serverr]\nlisten = \"x\"\nport = 1\n"},
	{name: "unknown-server", config: "[server]\nlistn = \"127.0.0.1:22\"\n" + valid},
	{name: "unknown-s3", config: "[s3]\nbucket = \"b\"\nencryption = \"none\"\n" + validUser},
	{name: "unknown-embedded", config: valid + "[embedded]\ndirectory = \"x\"\n"},
	{name: "unknown-users", config: valid + "readble = true\n"},
	{name: "unknown-users-twice", config: valid + "readble = true\n[[users]]\nname = \"bob\"\nhome = \"bob/\"\nkeys = [\"KEY_B\"]\nreadble = false\n"},
	{name: "unknown-nested-table", config: "[server.tls]\ncert = \"x\"\nkey = \"y\"\n" + valid},
	{name: "unknown-dotted", config: "server.tls.cert = \"x\"\n" + valid},
	{name: "unknown-inline-table", config: "server = { listen = \"127.0.0.1:22\", lisen = \"x\" }\n" + valid},
	{name: "unknown-inline-user", config: "s3.bucket = \"b\"\nusers = [\n  { name = \"a\", home = \"a/\", keys = [\"KEY_A\"] },\n  { name = \"b\", home = \"b/\", keys = [\"KEY_B\"], hom = \"x\" },\n]\n"},
	{name: "unknown-case", config: "[server]\nListen = \"127.0.0.1:22\"\n" + valid},
	{name: "unknown-case-twice", config: "[server]\nlisten = \"127.0.0.1:22\"\nLISTEN = \"0.0.0.0:22\"\n" + valid},
	{name: "unknown-quoted", config: "[server]\n\"listen.port\" = 22\n" + valid},
	{name: "unknown-under-user-table", config: valid + "[users.limits]\nmax = 1\n"},

	// Wrong types.
	{name: "type-int-as-string", config: "[server]\nmax_auth_tries = \"three\"\n" + valid},
	{name: "type-string-as-int", config: "[server]\nlisten = 2022\n" + valid},
	{name: "type-bool", config: "[s3]\nbucket = \"b\"\npath_style = \"yes\"\n" + validUser},
	{name: "type-float", config: "[server]\nkeepalive_count_max = 2.5\n" + valid},
	{name: "type-date-time", config: "[server]\nidle_timeout = 1979-05-27 07:32:00Z\n" + valid},
	{name: "type-duration-integer", config: "[server]\nidle_timeout = 30\n" + valid},
	{name: "type-duration-unparsable", config: "[server]\nlogin_timeout = \"30 s\"\ndrain_timeout = \"soon\"\n" + valid},
	{name: "type-size-integer", config: "[s3]\nbucket = \"b\"\npart_size = 16777216\n" + validUser},
	{name: "type-size-unparsable", config: "[s3]\nbucket = \"b\"\npart_size = \"16 MiB\"\nupload_memory = \"1.5GiB\"\n" + validUser},
	{name: "type-size-overflow", config: "[s3]\nbucket = \"b\"\nupload_memory = \"99999999999TiB\"\n" + validUser},
	{name: "type-keys-string", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = \"KEY_A\"\n"},
	{name: "type-keys-element", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = [\n  \"KEY_A\",\n  42,\n  \"bogus\",\n]\n"},
	{name: "type-table-for-value", config: "[server]\nlisten = { host = \"x\", port = 1 }\n" + valid},
	{name: "type-section-not-table", config: "server = 5\n" + valid},
	{name: "type-users-not-array", config: "[s3]\nbucket = \"b\"\n[users]\nname = \"alice\"\n"},
	{name: "type-user-not-table", config: "s3 = { bucket = \"b\" }\nusers = [1]\n"},
	{name: "type-permissions-element", config: valid + "permissions = [\"read\", true]\n"},

	// Missing required keys.
	{name: "missing-bucket", config: "[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = [\"KEY_A\"]\n"},
	{name: "missing-bucket-one-user", config: "[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = [\"KEY_A\"]\nbucket = \"a\"\n[[users]]\nname = \"bob\"\nhome = \"bob/\"\nkeys = [\"KEY_B\"]\n"},
	{name: "empty-bucket", config: "[s3]\nbucket = \"\"\n" + validUser},
	{name: "missing-users", config: "[s3]\nbucket = \"b\"\n"},
	{name: "missing-name-home-keys", config: "[s3]\nbucket = \"b\"\n\n[[users]]\nbucket = \"x\"\n"},
	{name: "empty-name-home", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"\"\nhome = \"\"\nkeys = [\"KEY_A\"]\n"},
	{name: "empty-keys", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = []\n"},

	// Duplicate users.
	{name: "duplicate-user", config: valid + "\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = [\"KEY_B\"]\n"},

	// Keys.
	{name: "key-unparsable", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = [\"KEY_A\", \"ssh-ed25519 AAAA!!!!\", \"\"]\n"},
	{name: "key-multi-line", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = [\"\"\"\nKEY_A\nKEY_B\n\"\"\"]\n"},
	{name: "key-refused-kinds", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = [\n  \"KEY_CERT\",\n  \"KEY_RSA1024\",\n  \"KEY_DSA\",\n]\n"},
	{name: "keys-file-bad-lines", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys_file = \"keys/alice.pub\"\n",
		files: map[string]string{"keys/alice.pub": "# alice's keys\n\nKEY_A\n   not a key\nKEY_B\n\tKEY_CERT\n"}},
	{name: "keys-file-missing", config: "[s3]\nendpoint = \"https://s3.example.com\"\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys_file = \"keys/alice.pub\"\n"},
	{name: "keys-file-empty", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys_file = \"keys/alice.pub\"\n",
		files: map[string]string{"keys/alice.pub": "# no keys yet\n"}},
	{name: "keys-file-directory", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys_file = \"keys\"\n",
		files: map[string]string{"keys/alice.pub": "KEY_A\n"}},

	// Homes.
	{name: "home-no-trailing-slash", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"partners/alice\"\nkeys = [\"KEY_A\"]\n"},
	{name: "home-leading-slash", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"/partners/alice/\"\nkeys = [\"KEY_A\"]\n"},
	{name: "home-dot-dot", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"partners/../alice/\"\nkeys = [\"KEY_A\"]\n"},
	{name: "home-dot", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"./alice/\"\nkeys = [\"KEY_A\"]\n"},
	{name: "home-empty-segment", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"partners//alice/\"\nkeys = [\"KEY_A\"]\n"},
	{name: "home-root", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"/\"\nkeys = [\"KEY_A\"]\n"},
	{name: "home-backslash", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = 'partners\\alice/'\nkeys = [\"KEY_A\"]\n"},
	{name: "home-control", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"alice\"\nhome = \"partners/al\\u0007ice/\"\nkeys = [\"KEY_A\"]\n"},
	{name: "home-nested", config: valid + "[[users]]\nname = \"bob\"\nhome = \"alice/bob/\"\nkeys = [\"KEY_B\"]\n[[users]]\nname = \"carol\"\nhome = \"alice/\"\nkeys = [\"KEY_B\"]\n"},
	{name: "home-nested-per-user-bucket", config: valid + "[[users]]\nname = \"bob\"\nhome = \"alice/bob/\"\nkeys = [\"KEY_B\"]\nbucket = \"b\"\n"},
	{name: "home-nested-access-point-arn", config: valid + "[[users]]\nname = \"bob\"\nhome = \"alice/bob/\"\nkeys = [\"KEY_B\"]\nbucket = \"arn:aws:s3:us-east-1:123456789012:accesspoint/bob\"\n"},
	{name: "home-nested-access-point-alias", config: valid + "[[users]]\nname = \"bob\"\nhome = \"alice/bob/\"\nkeys = [\"KEY_B\"]\nbucket = \"bob-ab12cd34ef56gh78ij90kl12mn34op56qr-s3alias\"\n"},
	{name: "home-nested-two-access-points", config: "[[users]]\nname = \"alice\"\nhome = \"alice/\"\nkeys = [\"KEY_A\"]\nbucket = \"arn:aws:s3:us-east-1:123456789012:accesspoint/alice\"\n" +
		"[[users]]\nname = \"bob\"\nhome = \"alice/bob/\"\nkeys = [\"KEY_B\"]\nbucket = \"arn:aws:s3:us-east-1:123456789012:accesspoint/bob\"\n"},

	// Values.
	{name: "sse-invalid", config: "[s3]\nbucket = \"b\"\nsse = \"none\"\n" + validUser},
	{name: "sse-empty", config: "[s3]\nbucket = \"b\"\nsse = \"\"\n" + validUser},
	{name: "kms-key-with-aes256", config: "[s3]\nbucket = \"b\"\nkms_key_id = \"alias/sftp\"\n" + validUser},
	{name: "checksums-invalid", config: "[s3]\nbucket = \"b\"\nchecksums = \"crc32\"\n" + validUser},
	{name: "permissions-unknown", config: valid + "permissions = [\"list\", \"readble\", \"write\"]\n"},
	{name: "permissions-empty", config: valid + "permissions = []\n"},
	{name: "part-size-small", config: "[s3]\nbucket = \"b\"\npart_size = \"4MiB\"\n" + validUser},
	{name: "part-size-large", config: "[s3]\nbucket = \"b\"\npart_size = \"6GiB\"\nupload_memory = \"8GiB\"\n" + validUser},
	{name: "memory-limit-cannot-hold-budgets", config: "[server]\nmemory_limit = \"512MiB\"\n[s3]\nbucket = \"b\"\nupload_memory = \"384MiB\"\n" + validUser},
	{name: "memory-limit-too-small", config: "[server]\nmemory_limit = \"64MiB\"\n" + valid},
	{name: "memory-limit-unparsable", config: "[server]\nmemory_limit = \"half\"\n" + valid},
	{name: "memory-wait-short", config: "[server]\nmemory_wait = \"10ms\"\n" + valid},
	{name: "memory-wait-past-idle", config: "[server]\nidle_timeout = \"5m\"\nmemory_wait = \"10m\"\n" + valid},
	{name: "upload-memory-below-part-size", config: "[s3]\nbucket = \"b\"\npart_size = \"64MiB\"\nupload_memory = \"32MiB\"\n" + validUser},
	{name: "limits-defaults-out-of-range", config: "[server]\nmax_sessions_per_connection = 0\n[s3]\nbucket = \"b\"\nread_ahead_memory = \"512KiB\"\n" +
		"[user_defaults]\nmax_upload_mbps = -1\nmax_download_mbps = 200000\nread_ahead_memory_per_user = \"1GiB\"\n" + validUser},
	{name: "limits-user-out-of-range", config: valid + "max_download_mbps = -5\nread_ahead_memory_per_user = \"100KiB\"\n"},
	{name: "limits-wrong-types", config: valid + "max_upload_mbps = 2.5\nmax_download_mbps = \"8\"\nread_ahead_memory_per_user = 1048576\n"},
	{name: "endpoint-invalid", config: "[s3]\nbucket = \"b\"\nendpoint = \"s3.example.com\"\n" + validUser},
	{name: "endpoint-plain-http", config: "[s3]\nbucket = \"b\"\nendpoint = \"http://10.0.0.5:9000\"\n" + validUser},
	{name: "presign-ttl-too-long", config: "[s3]\nbucket = \"b\"\nmax_presign_ttl = \"200h\"\n" + validUser},
	{name: "presign-ttl-zero", config: "[s3]\nbucket = \"b\"\nmax_presign_ttl = \"0s\"\n" + validUser},
	{name: "proxy-protocol-without-trusted", config: "[server]\nproxy_protocol = true\n" + valid},
	{name: "trusted-proxies-without-proxy-protocol", config: "[server]\ntrusted_proxies = [\"10.0.0.0/8\"]\n" + valid},
	{name: "trusted-proxies-invalid", config: "[server]\nproxy_protocol = true\ntrusted_proxies = [\"10.0.0.0/33\", \"lb.example\", \"10.1.2.3\"]\n" + valid},
	{name: "role-arn-invalid", config: valid + "role_arn = \"arn:aws:iam::12345:user/bob\"\nexternal_id = \"x\"\n"},
	{name: "external-id-without-role", config: valid + "external_id = \"acme-4711\"\n"},
	{name: "role-with-access-point-alias", config: valid + "role_arn = \"arn:aws:iam::123456789012:role/sftp\"\nbucket = \"acme-ap-abcdefgh12345678-s3alias\"\n"},
	{name: "bucket-access-point-arn-invalid", config: valid + "bucket = \"arn:aws:s3:us-east-1:123456789012:bucket/acme\"\n"},
	{name: "sts-endpoint-plain-http", config: "[s3]\nbucket = \"b\"\nsts_endpoint = \"http://sts.example.com\"\n" + validUser},
	{name: "admin-listen-invalid", config: "[admin]\nlisten = \"9102\"\n" + valid},
	{name: "endpoint-credentials", config: "[s3]\nbucket = \"b\"\nendpoint = \"https://AKIA:secret@s3.example.com\"\n" + validUser},
	{name: "region-empty", config: "[s3]\nbucket = \"b\"\nregion = \"\"\n" + validUser},
	{name: "bucket-with-prefix", config: "[s3]\nbucket = \"b/partners\"\n" + validUser},
	{name: "orphan-age-zero", config: "[s3]\nbucket = \"b\"\norphan_upload_age = \"0s\"\norphan_sweep_every = \"-1h\"\n" + validUser},
	{name: "orphan-age-too-small", config: "[s3]\nbucket = \"b\"\norphan_upload_age = \"500ms\"\norphan_sweep_every = \"10s\"\n" + validUser},
	{name: "orphan-not-strings", config: "[s3]\nbucket = \"b\"\norphan_upload_age = 24\norphan_sweep_every = \"hourly\"\n" + validUser},
	{name: "retries-invalid", config: "[s3]\nbucket = \"b\"\nretry_mode = \"legacy\"\nmax_attempts = 0\n" + validUser},
	{name: "listen-no-port", config: "[server]\nlisten = \"127.0.0.1\"\n" + valid},
	{name: "listen-bad-port", config: "[server]\nlisten = \"127.0.0.1:70000\"\n" + valid},
	{name: "limits-below-one", config: "[server]\nmax_auth_tries = 0\nkeepalive_count_max = -1\n" + valid},
	{name: "allow-from-bad", config: valid + "allow_from = [\"10.0.0.0/33\", \"::1\"]\n[[users]]\nname = \"bob\"\nhome = \"bob/\"\nkeys = [\"KEY_B\"]\nallow_from = []\n"},
	{name: "key-options-bad", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"a\"\nhome = \"a/\"\nkeys = ['command=\"x\" KEY_A', 'from=\"h.example\" KEY_B', 'expiry-time=\"1\" KEY_A']\n"},
	{name: "min-rsa-bits-low", config: "[server]\nmin_rsa_bits = 1024\ncrypto = \"strong\"\n" + valid},
	{name: "min-rsa-bits-refuses-key", config: "[server]\nmin_rsa_bits = 4096\n[s3]\nbucket = \"b\"\n[[users]]\nname = \"a\"\nhome = \"a/\"\nkeys = [\"KEY_RSA2048\"]\n"},
	{name: "password-cleartext", config: valid + "auth = [\"password\"]\npassword_hash = \"hunter2\"\n"},
	{name: "password-problems", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"a\"\nhome = \"a/\"\nauth = [\"password\"]\n[[users]]\nname = \"b\"\nhome = \"b/\"\nauth = [\"otp\"]\nkeys = [\"KEY_B\"]\n[[users]]\nname = \"c\"\nhome = \"c/\"\nkeys = [\"KEY_A\"]\npassword_hash = \"$2b$10$abcdefghijklmnopqrstuu5Pxk2sTzuM8lqYHg6Sw3AY0uV6nWf8y\"\n[[users]]\nname = \"d\"\nhome = \"d/\"\nauth = [\"publickey\", \"password\"]\npassword_hash = \"$argon2id$v=19$m=9999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5\"\n"},
	{name: "upload-limits-bad", config: "[s3]\nbucket = \"b\"\nupload_memory_wait = \"0s\"\n[user_defaults]\nmax_open_files = -1\nupload_memory_per_user = \"1MiB\"\n" + validUser + "max_open_files = -2\nupload_memory_per_user = \"1TiB\"\n"},
	{name: "upload-limits-wrong-types", config: "[s3]\nbucket = \"b\"\nupload_memory_wait = 60\n[user_defaults]\nmax_open_files = \"many\"\nupload_memory_per_user = 100\n" + validUser},
	{name: "defender-bad", config: valid + "[defender]\nip_failures = 0\nuser_failures = -1\nwindow = \"0s\"\nban_time = \"1h\"\nban_time_max = \"1m\"\nallow = [\"10.0.0.1/8\", \"nope\", \"192.0.2.7\", \"2001:db8::/32\"]\n"},
	{name: "defender-early-drop-bad", config: valid + "[defender]\nearly_drop = \"64\"\n"},
	{name: "defender-early-drop-start", config: valid + "[defender]\nmax_unauthenticated = 32\nearly_drop = \"32:30\"\n"},
	{name: "defender-early-drop-rate", config: valid + "[defender]\nearly_drop = \"10:0\"\n"},
	{name: "defender-early-drop-no-cap", config: valid + "[defender]\nmax_unauthenticated = 0\nearly_drop = \"10:30\"\n"},
	{name: "durations-not-positive", config: "[server]\nidle_timeout = \"0s\"\nlogin_timeout = \"-1s\"\ndrain_timeout = \"0\"\nkeepalive_interval = \"-5m\"\n" + valid},
	{name: "paths-empty", config: "[server]\nhost_key_dir = \"\"\n[embedded]\ndir = \"\"\n" + valid},
	{name: "name-white-space", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"al ice\"\nhome = \"alice/\"\nkeys = [\"KEY_A\"]\n"},
	{name: "name-control", config: "[s3]\nbucket = \"b\"\n[[users]]\nname = \"al\\u0000ice\"\nhome = \"alice/\"\nkeys = [\"KEY_A\"]\n"},

	// Audit.
	{name: "audit-unknown-key", config: valid + "[audit]\nfle = \"audit.jsonl\"\n"},
	{name: "audit-values", config: "[audit]\npaths = \"names\"\non_failure = \"ignore\"\n" + valid},
	{name: "audit-s3-sink-without-file", config: "[audit]\nfile = \"\"\ns3_bucket = \"audit-trail\"\n" + valid},
	{name: "audit-rotation-values", config: "[audit]\nrotate_size = \"1KiB\"\nrotate_every = \"-1m\"\ncheckpoint_every = \"0s\"\n" + valid},
	{name: "audit-rotation-not-strings", config: "[audit]\nrotate_size = 65536\ncheckpoint_every = 60\n" + valid},
	{name: "encryption-bad-values", config: valid + "[encryption]\nmode = \"gateway\"\nnames = \"hashed\"\n"},
	{name: "encryption-envelope-without-kek", config: valid + "[encryption]\nmode = \"envelope\"\n"},
	{name: "encryption-kek-missing", config: valid + "[encryption]\nmode = \"envelope\"\nkek_file = \"kek\"\nold_kek_files = [\"old\"]\n"},
	{name: "encryption-kek-readable-by-others", config: valid + "[encryption]\nnames = \"encrypted\"\nkek_file = \"kek\"\n",
		files: map[string]string{"kek": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"}},
	{name: "encryption-kms-without-envelope", config: valid + "[encryption]\nkms_key_id = \"alias/x\"\nnames = \"encrypted\"\n"},
	{name: "encryption-format-v1-bad", config: valid + "[encryption]\nformat_v1 = \"ignore\"\n"},
	{name: "audit-hmac-paths-without-key", config: "[audit]\npaths = \"hmac\"\n" + valid},
	{name: "audit-key-file-missing", config: "[audit]\nhmac_key_file = \"audit.key\"\n" + valid},
	{name: "audit-key-file-readable-by-others", config: "[audit]\nhmac_key_file = \"audit.key\"\n" + valid,
		files: map[string]string{"audit.key": "0123456789abcdef0123456789abcdef"}},
	{name: "audit-prefix-invalid", config: "[audit]\ns3_bucket = \"audit\"\ns3_prefix = \"/logs\"\n" + valid},
	{name: "audit-prefix-in-home", config: "[audit]\ns3_bucket = \"b\"\ns3_prefix = \"alice/audit/\"\n" + valid},
	{name: "audit-prefix-holds-home", config: "[audit]\ns3_bucket = \"b\"\ns3_prefix = \"\"\n" + valid},

	// Folders.
	{name: "folders-unknown-group", config: folderGroup + partner("acme", `groups = ["partner"]`)},
	{name: "folders-placeholder", config: "[s3]\nbucket = \"b\"\n[[groups]]\nname = \"partners\"\n[[groups.folders]]\npath = \"/inbound\"\nprefix = \"inbound/{login}/\"\n" + partner("acme", `groups = ["partners"]`)},
	{name: "folders-bad-paths", config: "[s3]\nbucket = \"b\"\n[[groups]]\nname = \"partners\"\n" +
		"[[groups.folders]]\npath = \"inbound\"\nprefix = \"a/\"\n[[groups.folders]]\npath = \"/up/../x\"\nprefix = \"b/\"\n" +
		"[[groups.folders]]\npath = \"/out/\"\nprefix = \"c/\"\n[[groups.folders]]\npath = \"/a//b\"\nprefix = \"d/\"\n[[groups.folders]]\npath = \"/\"\nprefix = \"e/\"\n" +
		partner("acme", `groups = ["partners"]`)},
	{name: "folders-duplicate-path", config: folderGroup + "[[groups.folders]]\npath = \"/inbound\"\nprefix = \"again/{user}/\"\n" + partner("acme", `groups = ["partners"]`)},
	{name: "folders-nested", config: folderGroup + "[[groups.folders]]\npath = \"/inbound/more\"\nprefix = \"more/{user}/\"\n" +
		partner("acme", `groups = ["partners"]`+"\n[[users.folders]]\npath = \"/outbound/x\"\nprefix = \"x/acme/\"\n")},
	{name: "folders-nested-across-groups", config: folderGroup + "[[groups]]\nname = \"reports\"\n[[groups.folders]]\npath = \"/outbound/reports\"\nprefix = \"reports/{user}/\"\n" +
		partner("acme", `groups = ["partners", "reports"]`) + partner("bob", `groups = ["partners", "reports"]`)},
	{name: "folders-overlap-home", config: folderGroup + partner("acme", `groups = ["partners"]`) + "[[users]]\nname = \"ops\"\nhome = \"inbound/\"\nkeys = [\"KEY_B\"]\n"},
	{name: "folders-overlap-access-point", config: folderGroup + partner("acme", `groups = ["partners"]`) +
		"[[users]]\nname = \"ops\"\nhome = \"outbound/\"\nbucket = \"ops-ab12cd34ef56gh78ij90kl12mn34op56qr-s3alias\"\nkeys = [\"KEY_B\"]\n"},
	{name: "folders-overlap-own-home", config: folderGroup + partner("acme", `home = "inbound/acme/in/"`+"\n"+`groups = ["partners"]`)},
	{name: "folders-missing-keys", config: "[s3]\nbucket = \"b\"\n[[groups]]\nname = \"\"\n[[groups.folders]]\nprefix = \"x/\"\npermissions = []\n[[groups]]\nname = \"empty\"\n" +
		partner("acme", `groups = ["empty"]`) + "[[users]]\nname = \"bob\"\nkeys = [\"KEY_B\"]\ngroups = []\n"},
	{name: "folders-lifecycle", config: "[s3]\nbucket = \"b\"\n[[groups]]\nname = \"partners\"\n" +
		"[[groups.folders]]\npath = \"/outbound\"\nprefix = \"outbound/{user}/\"\npermissions = [\"list\"]\ndelete_after_download = true\nretention = \"5s\"\n" +
		"[[groups.folders]]\npath = \"/reports\"\nprefix = \"reports/{user}/\"\nretention = \"2d\"\nnot_picked_up_after = \"48h\"\n" +
		"[[groups.folders]]\npath = \"/drop\"\nprefix = \"drop/{user}/\"\nretention = \"30\"\ndelete_after_download = true\n" +
		partner("acme", `groups = ["partners"]`+"\npermissions = [\"list\", \"read\"]")},
	{name: "folders-unknown-key", config: folderGroup + "prefx = \"x/\"\n" + partner("acme", `groups = ["partners"]`)},

	{name: "folders-audit-prefix", config: strings.Replace(folderGroup, "[s3]\n", "[audit]\ns3_bucket = \"b\"\ns3_prefix = \"outbound/\"\n[s3]\n", 1) + partner("acme", `groups = ["partners"]`)},

	{name: "folders-login-name-in-prefix", config: folderGroup + partner("a", `groups = ["partners"]`) + strings.Replace(partner("a/b", `groups = ["partners"]`), "KEY_A", "KEY_B", 1) +
		strings.Replace(partner("..", `groups = ["partners"]`), "KEY_A", "KEY_B", 1)},

	// Events (issue 20).
	{name: "events-webhook-bad-values", config: valid + "[[events.webhook]]\nurl = \"ftp://hooks.example.org/x\"\nsecret_file = \"hook.secret\"\ntypes = [\"upload\", \"uplod\"]\n" +
		"[[events.webhook]]\nurl = \"http://hooks.example.org/x\"\nsecret_file = \"missing.secret\"\n" +
		"[[events.webhook]]\nurl = \"https://user:pw@hooks.example.org/x\"\n" +
		"[[events.webhook]]\nurl = \"http://127.0.0.1:9/x\"\nsecret_file = \"hook.secret\"\n[[events.webhook]]\nurl = \"http://127.0.0.1:9/x\"\nsecret_file = \"hook.secret\"\n",
		files: map[string]string{"hook.secret": "0123456789abcdef0123456789abcdef"}},
	{name: "events-sns-bad-values", config: valid + "[[events.sns]]\ntopic_arn = \"arn:aws:sqs:us-east-1:123456789012:q\"\nendpoint = \"http://10.0.0.5:4100\"\ntypes = [\"all\"]\n"},
	{name: "events-without-audit-file", config: "[audit]\nfile = \"\"\nstdout = true\n" + valid + "[[events.sns]]\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:phi\"\n"},

	// Many problems at once, across files, reported in order.
	{name: "many", config: `[server]
listen = "localhost"
max_auth_tries = "three"
idle_timout = "5m"

[s3]
sse = "none"

[[users]]
name = "alice"
home = "/alice"
readble = true
keys_file = "alice.pub"

[[users]]
name = "alice"
keys = ["KEY_B", "nope"]
permissions = []
`, files: map[string]string{"alice.pub": "KEY_A\nnope\n"}},
}

var keyNames = strings.NewReplacer(
	"KEY_A", keyA, "KEY_B", keyB, "KEY_RSA1024", keyRSA1024, "KEY_RSA2048", keyRSA2048, "KEY_DSA", keyDSA, "KEY_CERT", keyCert)

// writeFiles writes name → content under dir, with test keys replaced.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(keyNames.Replace(content)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadLines loads config.toml from a new directory holding files and
// returns the problem lines.
func loadLines(t *testing.T, config string, files map[string]string) []string {
	t.Helper()
	t.Chdir(t.TempDir())
	writeFiles(t, ".", files)
	writeFiles(t, ".", map[string]string{"config.toml": config})
	cfg, err := Load("config.toml")
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got err of type %T; want Errors", err)
	}
	if cfg != nil {
		t.Errorf("got cfg = %v with errors; want nil", cfg)
	}
	if got, want := err.Error(), strings.Join(errs.Lines(), "\n"); got != want {
		t.Errorf("got Error() = %q; want Lines joined: %q", got, want)
	}
	return errs.Lines()
}

func TestLoad_Errors(t *testing.T) {
	const golden = "testdata/errors.golden"
	want := readGolden(t, golden)
	var out strings.Builder
	for _, tt := range errorCases {
		var got []string
		t.Run(tt.name, func(t *testing.T) {
			got = loadLines(t, tt.config, tt.files)
			if len(got) == 0 {
				t.Errorf("got no errors; want some")
			}
			if w, ok := want[tt.name]; !*update && (!ok || !slices.Equal(got, w)) {
				t.Errorf("got lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
			}
		})
		out.WriteString("# " + tt.name + "\n" + strings.Join(got, "\n") + "\n\n")
	}
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readGolden reads "# name" sections of lines.
func readGolden(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && *update {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string][]string{}
	for sec := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n\n") {
		name, lines, _ := strings.Cut(sec, "\n")
		sections[strings.TrimPrefix(name, "# ")] = strings.Split(lines, "\n")
	}
	return sections
}

func TestLoad_ReadError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.toml")
	_, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got err = %v; want one matching fs.ErrNotExist", err)
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("got err = %#v; want Errors with one Error", err)
	}
	want := path + ":1:1: open " + path + ": no such file or directory"
	if got := errs[0].Error(); got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestErrors_Sorted(t *testing.T) {
	es := Errors{
		{File: "b.toml", Line: 1, Col: 1, Msg: "x"},
		{File: "a.toml", Line: 2, Col: 5, Msg: "y"},
		{File: "a.toml", Line: 2, Col: 1, Msg: "z"},
		{File: "a.toml", Line: 10, Col: 1, Msg: "w"},
		{File: "a.toml", Line: 2, Col: 1, Msg: "z"},
	}
	got := es.sorted().(Errors).Lines()
	want := []string{"a.toml:2:1: z", "a.toml:2:5: y", "a.toml:10:1: w", "b.toml:1:1: x"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q; want %q", got, want)
	}
	if err := (Errors{}).sorted(); err != nil {
		t.Errorf("got %v for no errors; want nil", err)
	}
}
