package s3fs

import (
	"errors"
	"log/slog"

	"github.com/pkg/sftp"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/pgp"
	"github.com/s3sftpd/s3sftpd/s3fs/gate"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// errGateUnset refuses an upload to a place whose gate the server cannot
// apply (a config without [scan] or [pgp]: config refuses it, this is the
// last line of defence): fail closed, never store the file ungated.
var errGateUnset = failure("upload refused: this folder's content checks are not available on this server")

// uploadGates are the content gates of an upload to m, in the order the
// bytes meet them: OpenPGP decryption, then the malware scan of the
// plaintext. sealed: the object is envelope-encrypted after them, so the
// decrypted bytes come in whole chunks. A scanner that cannot be reached
// refuses the upload here, at the open, unless on_unavailable accepts it.
func (h *handlers) uploadGates(m vfs.Mount, sealed bool) ([]upload.Gate, error) {
	var gs []upload.Gate
	if m.Gates.PGP == auth.PGPDecrypt {
		if h.fs.pgpKey == nil {
			return nil, errGateUnset
		}
		align := 0
		if sealed {
			align = objfmt.ChunkSize
		}
		gs = append(gs, gate.NewDecrypt(h.fs.pgpKey, h.tenant.PGPKeys, m.Gates.RequireSignature, align))
	}
	if m.Gates.Scan {
		if h.fs.scanner == nil {
			abortGates(gs)
			return nil, errGateUnset
		}
		s, err := gate.NewScan(h.ctx, h.fs.scanner, h.fs.acceptUnscanned)
		if err != nil {
			abortGates(gs)
			var r *upload.Refusal
			if errors.As(err, &r) {
				h.log.LogAttrs(h.ctx, slog.LevelWarn, "upload refused: no malware scanner", slog.String("err", r.Cause.Error()))
				return nil, &Error{sftp.ErrSSHFxFailure, r.Reason, r.Kind}
			}
			return nil, err
		}
		gs = append(gs, s)
	}
	return gs, nil
}

func abortGates(gs []upload.Gate) {
	for _, g := range gs {
		g.Abort()
	}
}

// encrypter is the session's OpenPGP encryption of downloads from an
// encrypting place, to the partner's keys, made at its first use.
func (h *handlers) encrypter() (*pgp.Encrypter, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.enc == nil {
		if h.fs.pgpKey == nil || len(h.tenant.PGPKeys) == 0 {
			return nil, failure("download refused: this folder's encryption is not available on this server")
		}
		e, err := pgp.NewEncrypter(h.fs.pgpKey, h.tenant.PGPKeys)
		if err != nil {
			h.log.LogAttrs(h.ctx, slog.LevelError, "OpenPGP encryption to the partner's keys refused", slog.String("err", err.Error()))
			return nil, failure("download refused: this folder's encryption to your OpenPGP keys is not available")
		}
		h.enc = e
	}
	return h.enc, nil
}

// shown is a file of m as listings and stat show it: in an encrypting
// place, with ".pgp" added to its name (when name is the stored one) and
// the exact size of the OpenPGP message a download sends.
func (h *handlers) shown(m vfs.Mount, fi fileInfo, addSuffix bool) fileInfo {
	if m.Gates.PGP != auth.PGPEncrypt || fi.dir {
		return fi
	}
	if addSuffix {
		fi.name += vfs.PGPSuffix
	}
	if e, err := h.encrypter(); err == nil {
		fi.size = e.Size(fi.size)
	}
	return fi
}
