package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLoad_Operations: the keys of the operations features load as given.
func TestLoad_Operations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s3sftpd.toml")
	os.WriteFile(path, []byte(`[server]
proxy_protocol = true
trusted_proxies = ["10.0.0.0/24", "192.0.2.7", "2001:db8::/32"]

[s3]
endpoint = ""
bucket = "b"
sts_endpoint = "https://sts.eu-west-1.amazonaws.com"
max_presign_ttl = "2m"
require_compliant = true

[admin]
listen = "127.0.0.1:9102"

[[users]]
name = "acme"
home = "acme/"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrsJoJsslNPhMApmN5bjTjxJhYfa1bs9rQk0cV+ZD7h ops@acme.example"]
bucket = "arn:aws:s3:eu-west-1:123456789012:accesspoint/acme"
role_arn = "arn:aws:iam::123456789012:role/sftp/acme"
external_id = "acme-4711"
`), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Users[0]
	if u.RoleARN != "arn:aws:iam::123456789012:role/sftp/acme" || u.ExternalID != "acme-4711" || u.Bucket != "arn:aws:s3:eu-west-1:123456789012:accesspoint/acme" {
		t.Errorf("user = %+v", u)
	}
	if !cfg.Server.ProxyProtocol || len(cfg.Server.TrustedProxies) != 3 || cfg.Admin.Listen != "127.0.0.1:9102" ||
		!cfg.S3.RequireCompliant || cfg.S3.MaxPresignTTL.String() != "2m0s" {
		t.Errorf("config = %+v %+v %+v", cfg.Server, cfg.S3, cfg.Admin)
	}
}
