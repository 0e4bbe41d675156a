package sftpext

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
	e := newExtensions(pipeRW{io.MultiReader(bytes.NewReader(client[:3]), bytes.NewReader(client[3:20]), bytes.NewReader(client[20:])), &toClient}, nil)

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

// fakeHasher knows one file's hash.
type fakeHasher map[string][]byte

func (f fakeHasher) SHA256(p string) ([]byte, error) {
	if sum, ok := f[p]; ok {
		return sum, nil
	}
	return nil, io.ErrUnexpectedEOF // a failure the client sees as SSH_FX_FAILURE
}

func TestExtensions_CheckFile(t *testing.T) {
	sum := bytes.Repeat([]byte{0xab}, 32)
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	byName := packet([]byte{fxpExtended}, u32(1), str(checkFileName), str("dir/../f.bin"), str("md5,sha256"), u64(0), u64(0), u32(0))
	md5Only := packet([]byte{fxpExtended}, u32(2), str(checkFileName), str("/f.bin"), str("md5"), u64(0), u64(0), u32(0))
	ranged := packet([]byte{fxpExtended}, u32(3), str(checkFileName), str("/f.bin"), str("sha256"), u64(10), u64(0), u32(0))
	open := packet([]byte{fxpOpen}, u32(4), str("/f.bin"), u32(1), u32(0))
	byHandle := packet([]byte{fxpExtended}, u32(5), str(checkFileHandle), str("h1"), str("sha256"), u64(0), u64(0), u32(0))

	var toClient bytes.Buffer
	client := bytes.Join([][]byte{byName, md5Only, ranged, open}, nil)
	e := newExtensions(pipeRW{bytes.NewReader(client), &toClient}, fakeHasher{"/f.bin": sum})
	got, err := io.ReadAll(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, open) {
		t.Errorf("the RequestServer got %x; want only the OPEN", got)
	}
	want := packet([]byte{fxpExtendedReply}, u32(1), str(checkFileExtension), str("sha256"), sum)
	want = append(want, statusPacket(2, statusUnsupported, "check-file: only sha256 is available")...)
	want = append(want, statusPacket(3, statusUnsupported, "check-file: only a hash of the whole file is available (offset 0, length 0, block size 0)")...)
	if !bytes.Equal(toClient.Bytes(), want) {
		t.Errorf("replies %x; want %x", toClient.Bytes(), want)
	}

	// The OPEN's HANDLE reply names the handle; check-file-handle then works.
	toClient.Reset()
	handle := packet([]byte{fxpHandle}, u32(4), str("h1"))
	if _, err := e.Write(packet([]byte{fxpVersion, 0, 0, 0, 3})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(handle); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(toClient.Bytes(), append(str(checkFileExtension), str("sha256")...)) {
		t.Errorf("VERSION does not offer check-file: %x", toClient.Bytes())
	}
	toClient.Reset()
	e.in = append(e.in, byHandle...)
	if err := e.takeClientPackets(); err != nil {
		t.Fatal(err)
	}
	if want := packet([]byte{fxpExtendedReply}, u32(5), str(checkFileExtension), str("sha256"), sum); !bytes.Equal(toClient.Bytes(), want) {
		t.Errorf("check-file-handle reply %x; want %x", toClient.Bytes(), want)
	}
}

// countingWriter counts the writes it gets and checks each is one whole packet.
type countingWriter struct {
	t      *testing.T
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if len(p) < 4 || int(binary.BigEndian.Uint32(p)) != len(p)-4 {
		w.t.Errorf("a write of %d bytes is not one whole packet", len(p))
	}
	w.writes++
	return len(p), nil
}

// repeatReader returns pkt over and over, in pieces of at most piece bytes.
type repeatReader struct {
	pkt   []byte
	off   int
	piece int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p[:min(len(p), r.piece)], r.pkt[r.off:])
	r.off = (r.off + n) % len(r.pkt)
	return n, nil
}

// A download's replies (pkg/sftp writes each as its header, then its data)
// and an upload's requests (arriving in SSH-packet pieces) pass the filter
// whole without a buffer allocated per packet: on a 1 GiB download that was
// 32,768 allocations of 32 KiB, a fifth of the gateway's copying.
func TestExtensions_PacketsPassWithoutAllocating(t *testing.T) {
	data := make([]byte, 32*1024)
	header := binary.BigEndian.AppendUint32(nil, uint32(1+4+4+len(data))) // DATA id 1, then the data's length
	header = binary.BigEndian.AppendUint32(append(header, 103, 0, 0, 0, 1), uint32(len(data)))
	w := &countingWriter{t: t}
	write := packet([]byte{6}, binary.BigEndian.AppendUint32(nil, 2), str("handle"), make([]byte, 8), str(string(data)))
	e := newExtensions(pipeRW{&repeatReader{pkt: write, piece: 16 * 1024}, w}, nil)

	got := make([]byte, len(write))
	readPacket := func() {
		if _, err := io.ReadFull(e, got[:4]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(e, got[4:]); err != nil {
			t.Fatal(err)
		}
	}
	readPacket() // the first read sizes the buffer
	if allocs := testing.AllocsPerRun(100, readPacket); allocs > 0 {
		t.Errorf("allocations per 32 KiB write request read = %v; want 0", allocs)
	}
	if !bytes.Equal(got, write) {
		t.Errorf("the RequestServer got %x…; want the client's packet %x…", got[:32], write[:32])
	}

	reply := func() {
		if _, err := e.Write(header); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	reply()
	if allocs := testing.AllocsPerRun(100, reply); allocs > 0 {
		t.Errorf("allocations per 32 KiB data reply written = %v; want 0", allocs)
	}
	if w.writes != 102 {
		t.Errorf("the channel got %d writes for 102 replies; want one each", w.writes)
	}
}
