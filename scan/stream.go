package scan

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Chunking of a stream to clamd: each INSTREAM chunk is at most chunkSize
// bytes, and at most queueChunks of them wait to be sent, so a Scan holds
// at most queueChunks*chunkSize bytes of the file (a few MiB) however fast
// the upload and however slow clamd.
const (
	chunkSize   = 256 << 10
	queueChunks = 8
)

// Scan is one file streamed to clamd (INSTREAM), an upload stage: Write
// hands it the file's bytes in order and passes them on unchanged; they are
// copied and sent to clamd by a goroutine of its own, concurrently with the
// caller, which waits only when the bounded buffer is full. Finish, after
// the last Write, returns the verdict: nil for a clean file, InfectedError,
// TooLargeError, LimitsError (not scanned whole), or UnavailableError /
// ClamdError when there is none.
// Either Finish or Abort must be called, to end the goroutine and the
// connection. Its methods are called one at a time.
//
// A Scan cannot be resumed: clamd cannot go back in a stream. An
// interrupted scanned upload is scanned again from its start.
type Scan struct {
	c    *Client
	conn net.Conn

	free  chan []byte // buffers ready to be filled
	queue chan []byte // filled buffers, in file order, for the sender
	sent  chan struct{}

	failed  chan struct{} // closed when the stream broke: sendErr says why
	sendErr error

	size     int64 // bytes written so far
	last     bool  // the last Write came
	finished bool  // the queue is closed
	decided  bool  // Finish has read the verdict
	verdict  error
	once     sync.Once
}

// NewScan opens an INSTREAM to clamd. An error is an UnavailableError.
func (c *Client) NewScan(ctx context.Context) (*Scan, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		conn.Close()
		return nil, &UnavailableError{Err: fmt.Errorf("send INSTREAM: %w", err)}
	}
	s := &Scan{
		c: c, conn: conn,
		free:   make(chan []byte, queueChunks),
		queue:  make(chan []byte, queueChunks),
		sent:   make(chan struct{}),
		failed: make(chan struct{}),
	}
	for range queueChunks {
		s.free <- nil // allocated on first use: a small file needs one
	}
	go s.send()
	return s, nil
}

// send writes the queued chunks to clamd, each behind its 4-byte length,
// then the zero-length chunk that ends the stream. After a failure it only
// returns buffers, so Write never blocks on a dead clamd.
func (s *Scan) send() {
	defer close(s.sent)
	var hdr [4]byte
	for buf := range s.queue {
		if s.sendErr == nil {
			binary.BigEndian.PutUint32(hdr[:], uint32(len(buf)))
			s.conn.SetWriteDeadline(time.Now().Add(s.c.Timeout))
			_, err := (&net.Buffers{hdr[:], buf}).WriteTo(s.conn)
			if err != nil {
				s.fail(fmt.Errorf("stream to clamd: %w", err))
			}
		}
		s.free <- buf[:0]
	}
	if s.sendErr == nil && s.last {
		binary.BigEndian.PutUint32(hdr[:], 0)
		s.conn.SetWriteDeadline(time.Now().Add(s.c.Timeout))
		if _, err := s.conn.Write(hdr[:]); err != nil {
			s.fail(fmt.Errorf("end stream to clamd: %w", err))
		}
	}
}

func (s *Scan) fail(err error) {
	s.sendErr = err
	close(s.failed)
}

// Write queues p for clamd and returns it unchanged. It fails only for a
// file over MaxSize; a clamd that broke the stream is reported by Finish
// (on_unavailable decides then), and the bytes after the break are
// dropped.
func (s *Scan) Write(p []byte, last bool) ([]byte, error) {
	if s.finished {
		return nil, fmt.Errorf("scan: write after the end of the stream")
	}
	s.size += int64(len(p))
	if s.size > s.c.MaxSize {
		s.verdict = &TooLargeError{Max: s.c.MaxSize}
		s.Abort()
		return nil, s.verdict
	}
	for rest := p; len(rest) > 0; {
		n := min(len(rest), chunkSize)
		var buf []byte
		select {
		case <-s.failed:
			rest = nil
			continue
		case buf = <-s.free:
		}
		if buf == nil {
			buf = make([]byte, 0, chunkSize)
		}
		s.queue <- append(buf, rest[:n]...)
		rest = rest[n:]
	}
	if last {
		s.last = true
		s.finished = true
		close(s.queue)
	}
	return p, nil
}

// Finish waits for the verdict on the whole file; called again, it gives
// the same one.
func (s *Scan) Finish() error {
	if s.verdict != nil || s.decided {
		return s.verdict
	}
	if !s.last {
		s.Abort()
		return &UnavailableError{Err: fmt.Errorf("scan finished before the end of the file")}
	}
	<-s.sent
	s.verdict, s.decided = s.readVerdict(), true
	s.Abort()
	return s.verdict
}

// readVerdict reads clamd's answer: "stream: OK", "stream: NAME FOUND", or
// an error such as "INSTREAM size limit exceeded. ERROR", which clamd also
// sends, before closing, when a stream breaks its StreamMaxLength.
func (s *Scan) readVerdict() error {
	timeout := s.c.VerdictTimeout
	if s.sendErr != nil {
		timeout = time.Second // clamd may have said why it cut the stream
	}
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	reply, err := bufio.NewReader(s.conn).ReadString(0)
	reply = strings.TrimSuffix(reply, "\x00")
	switch {
	case strings.Contains(reply, "size limit exceeded"):
		return &TooLargeError{Max: min(s.c.MaxSize, s.size)}
	case err != nil && s.sendErr != nil:
		return &UnavailableError{Err: s.sendErr}
	case err != nil:
		return &UnavailableError{Err: fmt.Errorf("read verdict: %w", err)}
	case s.sendErr != nil:
		return &UnavailableError{Err: s.sendErr}
	case reply == "stream: OK":
		return nil
	case strings.HasPrefix(reply, "stream: Heuristics.Limits.Exceeded") && strings.HasSuffix(reply, " FOUND"):
		return &LimitsError{Signature: strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")}
	case strings.HasPrefix(reply, "stream: ") && strings.HasSuffix(reply, " FOUND"):
		return &InfectedError{Signature: strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")}
	default:
		return &ClamdError{Reply: reply}
	}
}

// Abort ends the stream without a verdict: clamd sees the connection
// close. It may come after Finish, and more than once.
func (s *Scan) Abort() {
	s.once.Do(func() {
		s.conn.Close()
		if !s.finished {
			s.finished = true
			close(s.queue)
		}
		<-s.sent
	})
}

// Size is the bytes the scan has seen.
func (s *Scan) Size() int64 { return s.size }
