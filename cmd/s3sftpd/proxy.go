package main

import (
	"log/slog"
	"net"
	"net/netip"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/proxyproto"
)

// proxyListener wraps ln to read PROXY protocol headers when the config
// asks for them.
func proxyListener(ln net.Listener, cfg *config.Config, log *slog.Logger) net.Listener {
	if !cfg.Server.ProxyProtocol {
		return ln
	}
	var trusted []netip.Prefix
	for _, s := range cfg.Server.TrustedProxies {
		p, err := proxyproto.ParseTrusted(s)
		if err != nil { // unreachable: Load checked it
			panic("trusted proxy " + s + ": " + err.Error())
		}
		trusted = append(trusted, p)
	}
	log.Info("proxy protocol on", "trusted_proxies", cfg.Server.TrustedProxies)
	return &proxyproto.Listener{Listener: ln, Trusted: trusted, Timeout: cfg.Server.LoginTimeout.Duration, Logger: log}
}
