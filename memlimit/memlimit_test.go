package memlimit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// pipeChannel is the client's side of a session as inFlight sees it:
// requests to read, replies written.
type pipeChannel struct {
	ssh.Channel
	in  *bytes.Reader
	out bytes.Buffer
}

func (p *pipeChannel) Read(b []byte) (int, error)  { return p.in.Read(b) }
func (p *pipeChannel) Write(b []byte) (int, error) { return p.out.Write(b) }

// writeRequest is an SSH_FXP_WRITE of n bytes with id.
func writeRequest(id uint32, n int) []byte {
	body := []byte{6}
	body = binary.BigEndian.AppendUint32(body, id)
	body = binary.BigEndian.AppendUint32(body, 1)
	body = append(body, '1')
	body = binary.BigEndian.AppendUint64(body, 0)
	body = binary.BigEndian.AppendUint32(body, uint32(n))
	body = append(body, make([]byte, n)...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// statusReply is an SSH_FXP_STATUS OK for id.
func statusReply(id uint32) []byte {
	body := binary.BigEndian.AppendUint32([]byte{101}, id)
	body = append(body, make([]byte, 12)...) // code, message, language
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestInFlight_HoldsBackRequestsPastTheBound: with 1 MiB of writes read and
// not answered, the session reads no further request (the client's bytes
// stay in the SSH window it is bounded by) until a reply goes out.
func TestInFlight_HoldsBackRequestsPastTheBound(t *testing.T) {
	var stream []byte
	for id := range uint32(8) {
		stream = append(stream, writeRequest(id, 255<<10)...)
	}
	ch := &pipeChannel{in: bytes.NewReader(stream)}
	ctx, cancel := context.WithCancelCause(context.Background())
	f := newInFlight(ctx, ch)
	buf := make([]byte, 32<<10)
	read := 0
	for f.held < maxInFlight || !f.in.atBoundary() { // a request begun is read whole
		n, err := f.Read(buf)
		if err != nil {
			t.Fatalf("read %d bytes, then: %v", read, err)
		}
		read += n
	}
	if read > maxInFlight+len(writeRequest(0, 255<<10))+len(buf) {
		t.Errorf("got %d bytes read before the bound held; want at most %d, a request and a Read", read, maxInFlight)
	}
	left := ch.in.Len()
	stop := errors.New("test over")
	cancel(stop) // a Read that would wait gives up at once, taking nothing
	if _, err := f.Read(buf); !errors.Is(err, stop) {
		t.Fatalf("Read past the bound: err = %v; want it to wait (and end with the connection)", err)
	}
	if ch.in.Len() != left {
		t.Errorf("Read past the bound took %d more bytes from the channel; want none", left-ch.in.Len())
	}

	f = newInFlight(context.Background(), &pipeChannel{in: bytes.NewReader(stream)})
	for f.held < maxInFlight || !f.in.atBoundary() {
		f.Read(buf)
	}
	held := f.held
	if _, err := f.Write(statusReply(0)); err != nil {
		t.Fatal(err)
	}
	if f.held >= held {
		t.Errorf("after the reply to request 0, held = %d; want less than %d", f.held, held)
	}
	if n, err := f.Read(buf); err != nil || n == 0 {
		t.Errorf("Read after a reply: %d, %v; want more of the requests", n, err)
	}
}

// TestInFlight_CountsReadReplies: a read request holds the reply it asks
// for, not its own few bytes.
func TestInFlight_CountsReadReplies(t *testing.T) {
	body := binary.BigEndian.AppendUint32([]byte{fxpRead}, 7)
	body = binary.BigEndian.AppendUint32(body, 1)
	body = append(body, '3')
	body = binary.BigEndian.AppendUint64(body, 1<<20)
	body = binary.BigEndian.AppendUint32(body, 32<<10)
	req := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	f := newInFlight(context.Background(), &pipeChannel{in: bytes.NewReader(req)})
	f.Read(make([]byte, 3)) // in pieces, as any Read may come
	for _, err := f.Read(make([]byte, 64)); err == nil; _, err = f.Read(make([]byte, 64)) {
	}
	if want := int64(32<<10 + 32); f.held != want {
		t.Errorf("got held = %d after a 32 KiB read request; want %d", f.held, want)
	}
	f.Write(statusReply(7)[:6])
	f.Write(statusReply(7)[6:])
	if f.held != 0 {
		t.Errorf("got held = %d after its reply; want 0", f.held)
	}
}

// TestSessionRoom_ServesWaitersInOrder: a freed room goes to the session
// that waited longest, so no waiter is refused while later ones get in.
func TestRoom_ServesWaitersInOrder(t *testing.T) {
	r := NewRoom(SessionBuffers)
	if _, ok := r.Take(context.Background(), time.Minute); !ok {
		t.Fatal("the first session got no room")
	}
	got := make(chan string, 2)
	for i, name := range []string{"first", "second"} {
		go func() {
			if _, ok := r.Take(context.Background(), time.Hour); ok {
				got <- name
			}
		}()
		for r.waiting.Load() != int64(i+1) {
			time.Sleep(time.Millisecond)
		}
	}
	r.Release()
	if w := <-got; w != "first" {
		t.Errorf("got the freed room to the %s waiter; want the first", w)
	}
	if n := r.waiting.Load(); n != 1 {
		t.Errorf("got %d waiting; want the second still waiting", n)
	}
	r.Release()
	if w := <-got; w != "second" {
		t.Errorf("got %s; want the second waiter served next", w)
	}
	r.Release()
	if r.used != 0 || r.inUse.Load() != 0 {
		t.Errorf("got used = %d, in use %d after every session ended; want 0", r.used, r.inUse.Load())
	}
}
