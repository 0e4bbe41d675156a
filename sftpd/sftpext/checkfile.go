package sftpext

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/pkg/sftp"
)

// check-file (draft-ietf-secsh-filexfer-extensions-00, section 3): WinSCP's
// checksum command asks "check-file-name" for a path; other clients ask
// "check-file-handle" for an open file. The gateway answers sha256 over the
// whole file from the SHA-256 stored at upload, so a partner verifies a
// delivery without downloading it; ranges, blocks and other algorithms are
// refused with op-unsupported.

const (
	checkFileExtension = "check-file"
	checkFileName      = "check-file-name"
	checkFileHandle    = "check-file-handle"
	fxpOpen            = 3
	fxpClose           = 4
	fxpStatus          = 101
	fxpHandle          = 102

	statusNoSuchFile  = 2
	statusDenied      = 3
	statusFailure     = 4
	statusUnsupported = 8
)

// FileHasher is implemented by a session's FileCmd handler when the store
// keeps each file's SHA-256: it answers check-file without reading the file.
// Like any read, each call must be recorded in the session's audit trail and
// refused while the trail cannot be written (s3fs does both). The error's
// text goes to the client as is, so it must be safe to show.
type FileHasher interface {
	SHA256(path string) ([]byte, error)
}

// wire reads SFTP packet fields.
type wire []byte

func (w *wire) uint32() (uint32, bool) {
	if len(*w) < 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(*w)
	*w = (*w)[4:]
	return v, true
}

func (w *wire) uint64() (uint64, bool) {
	if len(*w) < 8 {
		return 0, false
	}
	v := binary.BigEndian.Uint64(*w)
	*w = (*w)[8:]
	return v, true
}

func (w *wire) string() (string, bool) {
	n, ok := w.uint32()
	if !ok || uint64(len(*w)) < uint64(n) {
		return "", false
	}
	s := string((*w)[:n])
	*w = (*w)[n:]
	return s, true
}

// checkFile answers a check-file request; body is the packet after the
// extension name.
func (e *extensions) checkFile(id uint32, ext string, body wire) []byte {
	target, ok1 := body.string()
	algs, ok2 := body.string()
	start, ok3 := body.uint64()
	length, ok4 := body.uint64()
	block, ok5 := body.uint32()
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return statusPacket(id, statusFailure, "check-file: malformed request")
	}
	if !hasAlg(algs, "sha256") {
		return statusPacket(id, statusUnsupported, "check-file: only sha256 is available")
	}
	// whole file only: the stored hash covers nothing else
	if start != 0 || length != 0 || block != 0 {
		return statusPacket(id, statusUnsupported, "check-file: only a hash of the whole file is available (offset 0, length 0, block size 0)")
	}
	p := target
	if ext == checkFileHandle {
		e.hmu.Lock()
		p, ok1 = e.handles[target]
		e.hmu.Unlock()
		if !ok1 {
			return statusPacket(id, statusFailure, "check-file: unknown handle")
		}
	}
	sum, err := e.hasher.SHA256(cleanPath(p))
	if err != nil {
		return statusPacket(id, statusOf(err), err.Error())
	}
	b := make([]byte, 4, 64)
	b = append(b, fxpExtendedReply)
	b = binary.BigEndian.AppendUint32(b, id)
	b = appendString(b, checkFileExtension)
	b = appendString(b, "sha256")
	b = append(b, sum...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func hasAlg(list, alg string) bool {
	for _, a := range strings.Split(list, ",") {
		if strings.TrimSpace(a) == alg {
			return true
		}
	}
	return false
}

// cleanPath resolves a client path against "/", as the RequestServer does.
func cleanPath(p string) string {
	return path.Clean("/" + p)
}

func statusOf(err error) uint32 {
	switch {
	case errors.Is(err, sftp.ErrSSHFxNoSuchFile), errors.Is(err, fs.ErrNotExist):
		return statusNoSuchFile
	case errors.Is(err, sftp.ErrSSHFxPermissionDenied), errors.Is(err, fs.ErrPermission):
		return statusDenied
	case errors.Is(err, sftp.ErrSSHFxOpUnsupported):
		return statusUnsupported
	}
	return statusFailure
}

func statusPacket(id, code uint32, msg string) []byte {
	b := make([]byte, 4, 64+len(msg))
	b = append(b, fxpStatus)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, code)
	b = appendString(b, msg)
	b = appendString(b, "en")
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// watchClient notes a client OPEN's path by request id, so the HANDLE reply
// can name it, and forgets a handle at CLOSE.
func (e *extensions) watchClient(body wire) {
	if e.hasher == nil || len(body) < 5 {
		return
	}
	typ := body[0]
	body = body[1:]
	id, _ := body.uint32()
	s, ok := body.string()
	if !ok {
		return
	}
	e.hmu.Lock()
	defer e.hmu.Unlock()
	switch typ {
	case fxpOpen:
		if len(e.opening) < 1024 { // bounded: a client that never reads replies cannot grow it
			e.opening[id] = s
		}
	case fxpClose:
		delete(e.handles, s)
	}
}

// watchServer maps the handle of an OPEN's reply to the path opened.
func (e *extensions) watchServer(body wire) {
	if e.hasher == nil || len(body) < 5 || (body[0] != fxpHandle && body[0] != fxpStatus) {
		return
	}
	typ := body[0]
	body = body[1:]
	id, _ := body.uint32()
	e.hmu.Lock()
	defer e.hmu.Unlock()
	p, ok := e.opening[id]
	if !ok {
		return
	}
	delete(e.opening, id)
	if h, ok := body.string(); ok && typ == fxpHandle {
		e.handles[h] = p
	}
}
