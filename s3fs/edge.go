package s3fs

import (
	"log/slog"

	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
)

// edge is h behind the error boundary's edge (boundary.Edge), through
// which every handler answers pkg/sftp.
func (h *handlers) edge() boundary.Edge {
	return boundary.Edge{H: h, Unexpected: h.unexpected}
}

// unexpected logs an error that reached the edge unmapped, with its cause.
func (h *handlers) unexpected(op, path string, err error) {
	h.log.LogAttrs(h.ctx, slog.LevelError, "unexpected error reached the SFTP edge; the partner was told only that the request failed",
		slog.String("op", op), slog.String("path", h.audit.Name(path)), slog.String("err", h.cause(err)))
}
