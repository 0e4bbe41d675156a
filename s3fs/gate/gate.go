// Package gate holds the content gates (issue 21): upload stages
// (upload.Gate) that decide whether a file may be published at all, placed
// before the SHA-256 so it is the plaintext's. In the order the bytes meet
// them: OpenPGP decryption (Decrypt: the file is stored decrypted, its
// signature checked) and the malware scan (Scan: the plaintext streams to
// clamd). Both veto the commit in Finish, so nothing they refuse is ever
// visible. Neither can resume: a scanned or decrypted upload that is
// interrupted is uploaded again from its start.
//
// It adapts scan and pgp to the upload pipeline and nothing more: it knows
// nothing of SFTP, S3 or the config, and must not import s3fs.
package gate

import (
	"context"
	"errors"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/pgp"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
	"github.com/s3sftpd/s3sftpd/scan"
)

// Tags a gate keeps on the object it let through: as user metadata on an
// object stored with one PutObject, as an object tag on a multipart one
// (the verdict comes after the upload was created), like s3sftpd-sha256.
const (
	TagScan   = "s3sftpd-scan"       // "clean ClamAV 1.4.6/27000", or "unscanned" (on_unavailable = "accept")
	TagSigner = "s3sftpd-pgp-signer" // the fingerprint of the partner key that signed a decrypted file
)

// Reasons of a gate's refusal (upload.Refusal.Kind): the value the trail's close
// record carries in its reason, for the events issue's upload_failed.
const (
	ReasonMalware         = "malware"          // clamd found a signature
	ReasonUnscannable     = "scan_limits"      // too large, or past clamd's limits: not scanned whole
	ReasonScanUnavailable = "scan_unavailable" // no verdict, and on_unavailable = "refuse"
	ReasonPGP             = "pgp"              // not an intact OpenPGP message to the gateway
	ReasonSignature       = "pgp_signature"    // unsigned, signed by another key, or a signature that fails
)

// Scan is the malware scan stage: the bytes stream to clamd as they pass,
// and Finish waits for the verdict. Without a verdict (clamd down, too
// slow, answering nonsense) accept decides: refuse the file, or store it
// marked unscanned.
type Scan struct {
	s         *scan.Scan // nil once unscanned
	accept    bool
	version   string // clamd's engine and database, for the record
	unscanned bool
}

// NewScan opens the scan of one upload. With clamd unavailable it refuses
// the upload at once (an error to give the partner), or, with accept,
// returns a stage that stores the file marked unscanned.
func NewScan(ctx context.Context, c *scan.Client, accept bool) (*Scan, *upload.Refusal) {
	g := &Scan{accept: accept}
	if v, err := c.Version(ctx); err == nil {
		g.version = v.String()
	}
	s, err := c.NewScan(ctx)
	switch {
	case err == nil:
		g.s = s
	case accept:
		g.unscanned = true
	default:
		return nil, scanRefusal(err)
	}
	return g, nil
}

func scanRefusal(err error) *upload.Refusal {
	msg, noVerdict := scan.Refusal(err)
	var infected *scan.InfectedError
	kind := ReasonUnscannable
	switch {
	case errors.As(err, &infected):
		kind = ReasonMalware
	case noVerdict:
		kind = ReasonScanUnavailable
	}
	return &upload.Refusal{Reason: msg, Kind: kind, Cause: err}
}

// decide is the stage's answer to a scan error: refused, or (no verdict,
// with accept) nil, the file then going on unscanned.
func (g *Scan) decide(err error) error {
	if _, noVerdict := scan.Refusal(err); noVerdict && g.accept {
		g.s.Abort()
		g.s, g.unscanned = nil, true
		return nil
	}
	return scanRefusal(err)
}

func (g *Scan) Write(p []byte, last bool) ([]byte, error) {
	if g.s == nil {
		return p, nil
	}
	if _, err := g.s.Write(p, last); err != nil {
		return nil, g.decide(err)
	}
	return p, nil
}

func (g *Scan) Finish() error {
	if g.s == nil {
		return nil
	}
	if err := g.s.Finish(); err != nil {
		return g.decide(err)
	}
	return nil
}

func (g *Scan) Abort() {
	if g.s != nil {
		g.s.Abort()
	}
}

func (g *Scan) Note(r *audit.Record, tags map[string]string) {
	v := "clean " + g.version
	if g.unscanned {
		v = "unscanned"
	}
	r.Scan, tags[TagScan] = v, v
}

// Decrypt is the OpenPGP decryption stage: it passes on the plaintext of
// the message it is given, a little at a time (pgp.Decrypt bounds a
// compressed message's expansion per Write), in whole envelope chunks.
type Decrypt struct {
	d *pgp.Decrypt
}

// feedSize is how much ciphertext one Write of pgp.Decrypt gets.
const feedSize = 1 << 20

// maxPartPlain bounds the plaintext one part's ciphertext may become (a
// compressed message): past it the file is refused as a decompression
// bomb, whatever pgp.Decrypt allows each feed. 256 MiB lets a 16 MiB part
// of gpg-compressed text (4:1 to 10:1) through.
const maxPartPlain = 256 << 20

// NewDecrypt decrypts one upload with the gateway's key; signers are the
// partner's keys, and requireSignature refuses a file none of them signed.
// align is the next stage's block (objfmt.ChunkSize under envelope), or 0.
func NewDecrypt(gateway *pgp.Key, signers []*pgp.Key, requireSignature bool, align int) *Decrypt {
	d := pgp.NewDecrypt(gateway, signers, requireSignature)
	d.Align = align
	return &Decrypt{d: d}
}

func pgpRefusal(err error) error {
	msg, ok := pgp.Refusal(err)
	if !ok {
		return err
	}
	kind := ReasonPGP
	var unknown *pgp.UnknownSignerError
	if errors.Is(err, pgp.ErrUnsigned) || errors.Is(err, pgp.ErrBadSignature) || errors.As(err, &unknown) {
		kind = ReasonSignature
	}
	return &upload.Refusal{Reason: msg, Kind: kind, Cause: err}
}

func (g *Decrypt) Write(p []byte, last bool) ([]byte, error) {
	var out []byte
	for {
		n := min(len(p), feedSize)
		end := last && n == len(p)
		plain, err := g.d.Write(p[:n], end)
		if err != nil {
			return nil, pgpRefusal(err)
		}
		if out == nil {
			out = plain
		} else {
			out = append(out, plain...)
		}
		if len(out) > maxPartPlain {
			return nil, pgpRefusal(pgp.ErrExpansion)
		}
		if p = p[n:]; len(p) == 0 {
			return out, nil
		}
	}
}

func (g *Decrypt) Finish() error { return pgpRefusal(g.d.Finish()) }
func (g *Decrypt) Abort()        { g.d.Abort() }

func (g *Decrypt) Note(r *audit.Record, tags map[string]string) {
	if s := g.d.Signer(); s != nil {
		r.Signer, tags[TagSigner] = s.Fingerprint(), s.Fingerprint()
	}
}
