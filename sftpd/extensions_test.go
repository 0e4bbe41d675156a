package sftpd

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// pipeRW is one end of a channel: reads come from r, writes go to w.
type pipeRW struct {
	io.Reader
	io.Writer
}

func (pipeRW) Close() error { return nil }

func packet(body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func str(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }

func TestExtensions_Limits(t *testing.T) {
	id := binary.BigEndian.AppendUint32(nil, 7)
	limits := packet([]byte{fxpExtended}, id, str(limitsExtension))
	other := packet([]byte{fxpExtended}, binary.BigEndian.AppendUint32(nil, 8), str("hardlink@openssh.com"), str("a"), str("b"))
	open := packet([]byte{3}, binary.BigEndian.AppendUint32(nil, 9), str("/f"))
	// The client's packets arrive split at awkward places.
	client := bytes.Join([][]byte{limits, other, open}, nil)
	var toClient bytes.Buffer
	e := newExtensions(pipeRW{io.MultiReader(bytes.NewReader(client[:3]), bytes.NewReader(client[3:20]), bytes.NewReader(client[20:])), &toClient})

	got, err := io.ReadAll(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]byte(nil), other...), open...); !bytes.Equal(got, want) {
		t.Errorf("the RequestServer got %x; want every packet but the limits request: %x", got, want)
	}
	if want := limitsReply(7); !bytes.Equal(toClient.Bytes(), want) {
		t.Errorf("reply = %x; want %x", toClient.Bytes(), want)
	}
	if r := toClient.Bytes(); len(r) != 4+1+4+32 || r[4] != fxpExtendedReply ||
		binary.BigEndian.Uint64(r[9+8:]) != 255*1024 || binary.BigEndian.Uint64(r[9+16:]) != 255*1024 {
		t.Errorf("reply %x does not announce 255 KiB reads and writes", r)
	}

	// The server's VERSION gains the extension; other packets pass whole, even written in pieces.
	toClient.Reset()
	version := packet([]byte{fxpVersion, 0, 0, 0, 3}, str("posix-rename@openssh.com"), str("1"))
	status := packet([]byte{101}, id, make([]byte, 12))
	out := append(append([]byte(nil), version...), status...)
	for _, piece := range [][]byte{out[:2], out[2:11], out[11:]} {
		if _, err := e.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	wantVersion := packet([]byte{fxpVersion, 0, 0, 0, 3}, str("posix-rename@openssh.com"), str("1"), str(limitsExtension), str("1"))
	if want := append(wantVersion, status...); !bytes.Equal(toClient.Bytes(), want) {
		t.Errorf("to the client: %x; want %x", toClient.Bytes(), want)
	}
}
