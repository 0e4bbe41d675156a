package sftpd

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// SFTP extensions pkg/sftp's RequestServer has no hook for, served by a thin
// filter on the channel between SSH and the RequestServer: the filter adds
// the extension's name to the server's VERSION packet and answers the
// client's SSH_FXP_EXTENDED requests for it itself; every other packet passes
// through untouched.
//
// check-file answers WinSCP's checksum command (checkfile.go).
//
// limits@openssh.com tells OpenSSH (8.6+) the largest read and write the
// server takes, so it sends 255 KiB requests instead of 32 KiB ones.

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

// extensions wraps the SFTP channel of one session.
type extensions struct {
	rw io.ReadWriteCloser

	rbuf []byte // client bytes read and not yet handed to the RequestServer
	in   []byte // an incomplete client packet
	rd   []byte // where each read from the channel lands: one buffer, not one per read

	wmu     sync.Mutex
	out     []byte // an incomplete server packet
	version bool   // the VERSION packet went out

	hasher  FileHasher // answers check-file; nil: not offered
	hmu     sync.Mutex
	opening map[uint32]string // OPEN request id → path, until its reply
	handles map[string]string // open handle → path
}

// newExtensions filters rw; hasher, when not nil, answers check-file.
func newExtensions(rw io.ReadWriteCloser, hasher FileHasher) *extensions {
	return &extensions{rw: rw, hasher: hasher, opening: map[uint32]string{}, handles: map[string]string{}}
}

var errPacketTooLarge = errors.New("sftp packet too large")

// Read hands the RequestServer the client's packets, minus those the filter answers.
func (e *extensions) Read(p []byte) (int, error) {
	for len(e.rbuf) == 0 {
		if e.rd == nil {
			e.rd = make([]byte, 32*1024)
		}
		n, err := e.rw.Read(e.rd)
		e.in = append(e.in, e.rd[:n]...)
		if perr := e.takeClientPackets(); perr != nil {
			return 0, perr
		}
		if err != nil {
			if len(e.rbuf) > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(p, e.rbuf)
	e.rbuf = e.rbuf[n:]
	return n, nil
}

// takeClientPackets moves the complete packets of e.in to e.rbuf, answering
// the extended requests the filter serves.
func (e *extensions) takeClientPackets() error {
	for len(e.in) >= 4 {
		size := int(binary.BigEndian.Uint32(e.in))
		if size > maxFilterPacket {
			return errPacketTooLarge
		}
		if len(e.in) < 4+size {
			return nil
		}
		pkt := e.in[:4+size]
		if reply := e.answer(pkt[4:]); reply != nil {
			if err := e.writePacket(reply); err != nil {
				return err
			}
		} else {
			e.watchClient(pkt[4:])
			e.rbuf = append(e.rbuf, pkt...)
		}
		e.in = e.in[4+size:]
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
// filter's own replies never land inside one, and adds the extension to VERSION.
func (e *extensions) Write(p []byte) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.out = append(e.out, p...)
	for len(e.out) >= 4 {
		size := int(binary.BigEndian.Uint32(e.out))
		if size > maxFilterPacket {
			return 0, errPacketTooLarge
		}
		if len(e.out) < 4+size {
			break
		}
		pkt := e.out[:4+size]
		if !e.version && size > 0 && pkt[4] == fxpVersion {
			e.version = true
			pkt = withExtension(pkt, limitsExtension, "1")
			if e.hasher != nil {
				pkt = withExtension(pkt, checkFileExtension, "sha256")
			}
		}
		e.watchServer(pkt[4:])
		if _, err := e.rw.Write(pkt); err != nil {
			return 0, err
		}
		e.out = e.out[4+size:]
	}
	if len(e.out) == 0 {
		e.out = nil
	}
	return len(p), nil
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
