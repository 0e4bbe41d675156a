//go:build !linux

package main

import "github.com/s3sftpd/s3sftpd/config"

// container finds no container limit outside Linux: cgroups are Linux's.
func container() config.Container { return config.Container{} }
