// Package sftpext serves the SFTP extensions pkg/sftp's RequestServer has
// no hook for, as a thin filter on the channel between SSH and the
// RequestServer: the filter adds the extension's name to the server's
// VERSION packet and answers the client's SSH_FXP_EXTENDED requests for it
// itself; every other packet passes through untouched. It sits on every
// byte a session moves, so it copies as little as it can. It knows nothing
// of SSH, users or S3: sftpd puts it on each session's channel.
//
// check-file answers WinSCP's checksum command (checkfile.go).
//
// limits@openssh.com tells OpenSSH (8.6+) the largest read and write the
// server takes, so it sends 255 KiB requests instead of 32 KiB ones.
package sftpext

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/s3sftpd/s3sftpd/memlimit"
)

// maxReadReply is the largest read reply the RequestServer sends (sftpd
// sets it): 255 KiB, as OpenSSH's.
const maxReadReply = memlimit.MaxReadReply

const (
	fxpVersion       = 2
	fxpExtended      = 200
	fxpExtendedReply = 201
	limitsExtension  = "limits@openssh.com"
	// maxPacket is what pkg/sftp's RequestServer reads in one packet.
	maxPacket = 256 * 1024
	// maxFilterPacket bounds a packet the filter buffers: anything larger is
	// refused by pkg/sftp anyway, and the filter must not buffer without limit.
	maxFilterPacket = maxPacket + 1024
)

// extensions wraps the SFTP channel of one session. Bytes are copied once
// on the way in (the channel reads into in) and only when a packet arrives
// in pieces on the way out: a download's every reply is a header and then
// its data in two writes.
type extensions struct {
	rw io.ReadWriteCloser

	// in[start:pass] are whole client packets to hand to the RequestServer,
	// in[pass:] the start of the next; the channel reads into in's spare room.
	in          []byte
	start, pass int

	wmu     sync.Mutex
	out     []byte // an incomplete server packet; its buffer is kept for the next
	version bool   // the VERSION packet went out

	hasher  FileHasher // answers check-file; nil: not offered
	hmu     sync.Mutex
	opening map[uint32]string // OPEN request id → path, until its reply
	handles map[string]string // open handle → path
}

// New filters rw, one session's SFTP channel, for the RequestServer, which
// reads and writes the result; hasher, when not nil, answers check-file.
func New(rw io.ReadWriteCloser, hasher FileHasher) io.ReadWriteCloser {
	return newExtensions(rw, hasher)
}

func newExtensions(rw io.ReadWriteCloser, hasher FileHasher) *extensions {
	return &extensions{rw: rw, hasher: hasher, opening: map[uint32]string{}, handles: map[string]string{}}
}

var errPacketTooLarge = errors.New("sftp packet too large")

// readRoom is the least spare room in a read from the channel: one 32 KiB
// SSH packet.
const readRoom = 32 * 1024

// Read hands the RequestServer the client's packets, minus those the filter answers.
func (e *extensions) Read(p []byte) (int, error) {
	for e.start == e.pass {
		if e.start == len(e.in) { // all handed on: start again at the front
			e.in, e.start, e.pass = e.in[:0], 0, 0
		}
		if cap(e.in)-len(e.in) < readRoom {
			e.makeRoom()
		}
		n, err := e.rw.Read(e.in[len(e.in):cap(e.in)])
		e.in = e.in[:len(e.in)+n]
		if perr := e.takeClientPackets(); perr != nil {
			return 0, perr
		}
		if err != nil {
			if e.start < e.pass {
				break
			}
			return 0, err
		}
	}
	n := copy(p, e.in[e.start:e.pass])
	e.start += n
	return n, nil
}

// makeRoom moves the bytes not yet handed on to the front of e.in, and
// grows it when that leaves less than readRoom spare.
func (e *extensions) makeRoom() {
	rest := len(e.in) - e.start
	buf := e.in[:0]
	if cap(e.in)-rest < readRoom {
		buf = make([]byte, 0, max(2*cap(e.in), rest+readRoom))
	}
	e.in = append(buf, e.in[e.start:]...)
	e.pass -= e.start
	e.start = 0
}

// takeClientPackets marks the complete packets after e.pass to be handed
// on, answering (and cutting out) the extended requests the filter serves.
func (e *extensions) takeClientPackets() error {
	for len(e.in)-e.pass >= 4 {
		size := int(binary.BigEndian.Uint32(e.in[e.pass:]))
		if size > maxFilterPacket {
			return errPacketTooLarge
		}
		if len(e.in)-e.pass < 4+size {
			return nil
		}
		pkt := e.in[e.pass : e.pass+4+size]
		if reply := e.answer(pkt[4:]); reply != nil {
			if err := e.writePacket(reply); err != nil {
				return err
			}
			e.in = append(e.in[:e.pass], e.in[e.pass+4+size:]...)
		} else {
			e.watchClient(pkt[4:])
			e.pass += 4 + size
		}
	}
	return nil
}

// answer is the filter's reply to an SSH_FXP_EXTENDED request it serves
// (body is type, id, name, …), or nil for a packet to pass on.
func (e *extensions) answer(body []byte) []byte {
	if len(body) < 9 || body[0] != fxpExtended {
		return nil
	}
	w := wire(body[1:])
	id, _ := w.uint32()
	name, ok := w.string()
	switch {
	case !ok:
		return nil
	case name == limitsExtension:
		return limitsReply(id)
	case (name == checkFileName || name == checkFileHandle) && e.hasher != nil:
		return e.checkFile(id, name, w)
	}
	return nil
}

// limitsReply is the SSH_FXP_EXTENDED_REPLY: max packet, read and write
// lengths, and open handles (0: no limit announced).
func limitsReply(id uint32) []byte {
	b := make([]byte, 4, 4+1+4+4*8)
	b = append(b, fxpExtendedReply)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint64(b, maxPacket)
	b = binary.BigEndian.AppendUint64(b, maxReadReply)
	b = binary.BigEndian.AppendUint64(b, maxReadReply)
	b = binary.BigEndian.AppendUint64(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// Write passes the RequestServer's packets to the client whole, so the
// filter's own replies never land inside one, and adds the extension to
// VERSION. A whole packet goes out from p itself; one written in pieces is
// gathered in e.out first.
func (e *extensions) Write(p []byte) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if len(e.out) == 0 && len(p) >= 4 {
			size := int(binary.BigEndian.Uint32(p))
			if size > maxFilterPacket {
				return 0, errPacketTooLarge
			}
			if len(p) >= 4+size {
				if err := e.send(p[:4+size]); err != nil {
					return 0, err
				}
				p = p[4+size:]
				continue
			}
		}
		if len(e.out) < 4 {
			take := min(4-len(e.out), len(p))
			e.out, p = append(e.out, p[:take]...), p[take:]
			if len(e.out) < 4 {
				break
			}
		}
		size := int(binary.BigEndian.Uint32(e.out))
		if size > maxFilterPacket {
			return 0, errPacketTooLarge
		}
		take := min(4+size-len(e.out), len(p))
		e.out, p = append(e.out, p[:take]...), p[take:]
		if len(e.out) == 4+size {
			if err := e.send(e.out); err != nil {
				return 0, err
			}
			e.out = e.out[:0]
		}
	}
	return n, nil
}

// send writes one whole server packet to the client. e.wmu is held.
func (e *extensions) send(pkt []byte) error {
	if !e.version && len(pkt) > 4 && pkt[4] == fxpVersion {
		e.version = true
		pkt = withExtension(pkt, limitsExtension, "1")
		if e.hasher != nil {
			pkt = withExtension(pkt, checkFileExtension, "sha256")
		}
	}
	e.watchServer(pkt[4:])
	_, err := e.rw.Write(pkt)
	return err
}

func (e *extensions) writePacket(pkt []byte) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	_, err := e.rw.Write(pkt)
	return err
}

// withExtension appends a name/data pair to a VERSION packet.
func withExtension(pkt []byte, name, data string) []byte {
	out := append([]byte(nil), pkt...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(name)))
	out = append(out, name...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func (e *extensions) Close() error { return e.rw.Close() }
