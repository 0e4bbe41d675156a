package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/s3sftpd/s3sftpd/config"
)

func ExampleLoad() {
	dir, err := os.MkdirTemp("", "s3sftpd")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s3sftpd.toml")

	// A config with a typo and a wrong type: Load reports both.
	os.WriteFile(path, []byte(`[server]
max_auth_tries = "3"

[s3]
bucket = "partner-drop"

[[users]]
name = "acme"
home = "partners/acme/"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrsJoJsslNPhMApmN5bjTjxJhYfa1bs9rQk0cV+ZD7h ops@acme.example"]
permisions = ["write"]
`), 0o644)
	_, err = config.Load(path)
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Printf("%d:%d: %s\n", e.Line, e.Col, e.Msg)
		}
	}

	// Fixed.
	os.WriteFile(path, []byte(`[s3]
bucket = "partner-drop"

[[users]]
name = "acme"
home = "partners/acme/"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrsJoJsslNPhMApmN5bjTjxJhYfa1bs9rQk0cV+ZD7h ops@acme.example"]
permissions = ["write"]
`), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	u := cfg.Users[0]
	fmt.Println(u.Name, u.Home, u.Permissions, u.PublicKeys[0].Comment)
	fmt.Println(cfg.S3.SSE, cfg.S3.PartSize, cfg.Server.LoginTimeout)
	// Output:
	// 2:1: server.max_auth_tries: expected an integer, got string "3"
	// 11:1: unknown key "users.permisions" (did you mean "permissions"?)
	// acme partners/acme/ [write] ops@acme.example
	// AES256 16MiB 30s
}
