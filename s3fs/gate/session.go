package gate

import (
	"context"
	"log/slog"
	"sync"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/pgp"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/scan"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Config is what the gates of every place share: [scan] and [pgp].
type Config struct {
	Scanner         *scan.Client // clamd of scanned places; nil: uploads there are refused
	AcceptUnscanned bool         // on_unavailable = "accept": clamd down, files are stored marked unscanned
	Key             *pgp.Key     // the gateway's OpenPGP key; nil: OpenPGP places refuse
}

// Session is one SFTP session's gates: the partner's keys, and the
// encryption of its downloads, made at the first use.
type Session struct {
	cfg     Config
	partner []*pgp.Key
	log     *slog.Logger

	mu     sync.Mutex
	enc    *pgp.Encrypter
	encErr error
}

// Session starts the gates of a session of a user with the OpenPGP keys
// partner; log hears why a gate could not be applied.
func (c Config) Session(partner []*pgp.Key, log *slog.Logger) *Session {
	return &Session{cfg: c, partner: partner, log: log}
}

// errUnset refuses an upload to a place whose gate the server cannot apply
// (config refuses such a place; this is the last line of defence): fail
// closed, never store the file ungated.
var errUnset = &upload.Refusal{Reason: "upload refused: this folder's content checks are not available on this server", Kind: "gate_unset"}

// Upload is the gates of an upload to a place with gates g, in the order
// the bytes meet them: OpenPGP decryption (its plaintext in whole envelope
// chunks, for the sealing that may follow), then the malware scan of the
// plaintext. A gate that cannot be applied (a scanner that cannot be
// reached, unless on_unavailable accepts it) is a Refused gate: the upload
// fails at its first write, with the reason.
func (s *Session) Upload(ctx context.Context, g auth.Gates) []upload.Gate {
	var gs []upload.Gate
	if g.PGP == auth.PGPDecrypt {
		if s.cfg.Key == nil {
			return []upload.Gate{Refused{errUnset}}
		}
		gs = append(gs, NewDecrypt(s.cfg.Key, s.partner, g.RequireSignature, objfmt.ChunkSize))
	}
	if g.Scan {
		if s.cfg.Scanner == nil {
			abort(gs)
			return []upload.Gate{Refused{errUnset}}
		}
		sc, err := NewScan(ctx, s.cfg.Scanner, s.cfg.AcceptUnscanned)
		if err != nil {
			abort(gs)
			s.log.LogAttrs(ctx, slog.LevelWarn, "malware scanner unavailable", slog.String("err", err.Cause.Error()))
			return []upload.Gate{Refused{err}}
		}
		gs = append(gs, sc)
	}
	return gs
}

func abort(gs []upload.Gate) {
	for _, g := range gs {
		g.Abort()
	}
}

// Refused is a gate that refuses every file: one that could not be applied.
type Refused struct{ R *upload.Refusal }

func (r Refused) Write([]byte, bool) ([]byte, error)    { return nil, r.R }
func (r Refused) Finish() error                         { return r.R }
func (r Refused) Abort()                                {}
func (r Refused) Note(*audit.Record, map[string]string) {}

// Encryption is the encryption of downloads from a place with gates g
// (download.Object.Encrypt): nil where downloads are sent as stored.
func (s *Session) Encryption(g auth.Gates) func() (*pgp.Encrypter, error) {
	if g.PGP != auth.PGPEncrypt {
		return nil
	}
	return func() (*pgp.Encrypter, error) { return s.encrypter() }
}

// encrypter is the encryption of downloads to the partner's keys, made at
// the first use; an error (an *upload.Error, for the partner) when it
// cannot be made.
func (s *Session) encrypter() (*pgp.Encrypter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enc == nil && s.encErr == nil {
		switch {
		case s.cfg.Key == nil || len(s.partner) == 0:
			s.encErr = &upload.Error{Msg: "download refused: this folder's encryption is not available on this server"}
		default:
			if s.enc, s.encErr = pgp.NewEncrypter(s.cfg.Key, s.partner); s.encErr != nil {
				s.log.Error("OpenPGP encryption to the partner's keys refused", slog.String("err", s.encErr.Error()))
				s.encErr = &upload.Error{Msg: "download refused: this folder's encryption to your OpenPGP keys is not available"}
			}
		}
	}
	return s.enc, s.encErr
}

// Listed is a stored file's name and size as a place with gates g lists
// it: in an encrypting place, with ".pgp" added and the exact size of the
// message a download sends.
func (s *Session) Listed(g auth.Gates, name string, size int64) (string, int64) {
	if g.PGP != auth.PGPEncrypt {
		return name, size
	}
	e, err := s.encrypter()
	if err != nil {
		return name, size
	}
	return name + vfs.PGPSuffix, e.Size(size)
}
