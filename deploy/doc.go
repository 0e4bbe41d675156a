// Package deploy holds the files that run s3sftpd as a service: the
// hardened systemd unit and the container image recipe. It has no code;
// its tests check those files with the tools that consume them.
package deploy
