package download

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/pgp"
)

// Encrypted is a download from an encrypting place: the object's plaintext
// (read in order from a Download) streamed through an OpenPGP encryption to
// the partner's keys, signed by the gateway. Its size is exact
// (pgp.Encrypter.Size), so clients that trust a listing's size get what it
// said. The message is made once, front to back: reads must come in order,
// as clients pipeline them (a little out of order is fine: the last bytes
// made are kept); a read further back or far ahead (a resume, reget, a
// ranged read) is refused, since another run would not give the same
// bytes (new session key, new signature).
type Encrypted struct {
	d    *Download
	e    *pgp.Encrypter
	size int64 // of the message

	mu      sync.Mutex
	pr      *io.PipeReader
	started bool
	begun   chan struct{} // closed when the read at offset 0 came
	base    int64         // file offset of kept[0]
	kept    []byte        // the message's latest bytes
	eof     bool          // the message is whole in base+len(kept)
	sentEnd bool          // the message's last byte went to the client
	wg      sync.WaitGroup
}

// keptBehind and maxSkip bound the reads an Encrypted serves: pipelined reads
// may arrive this far behind the furthest one, or ahead of what was made.
const (
	keptBehind = 4 << 20
	maxSkip    = 16 << 20
	readChunk  = 256 << 10
	// firstReadWait is how long a read past offset 0 waits for the read
	// at 0 before it is taken for a resume.
	firstReadWait = 2 * time.Second
)

// ErrEncryptedSeek refuses a read out of order of an encrypted download.
var ErrEncryptedSeek = errors.New("download refused: an encrypted download is sent in one pass from its start; resuming it or reading parts of it is not supported, download it again whole")

// NewEncrypted encrypts d's plaintext with e.
func NewEncrypted(d *Download, e *pgp.Encrypter) *Encrypted {
	return &Encrypted{d: d, e: e, size: e.Size(d.size), begun: make(chan struct{})}
}

// Size is the size of the message the client receives.
func (x *Encrypted) Size() int64 { return x.size }

// Path is the client's path the download was opened as.
func (x *Encrypted) Path() string { return x.d.Path() }

func (x *Encrypted) start() {
	pr, pw := io.Pipe()
	x.pr, x.started = pr, true
	close(x.begun)
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		w, err := x.e.Encrypt(pw)
		if err == nil {
			_, err = io.Copy(w, io.NewSectionReader(x.d, 0, x.d.size))
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		pw.CloseWithError(err)
	}()
}

// ReadAt serves p from the message at off, making it as far as needed.
func (x *Encrypted) ReadAt(p []byte, off int64) (int, error) {
	if off > 0 {
		// Pipelined reads may overtake the one at 0 by a little; a resume
		// (reget) never sends one.
		select {
		case <-x.begun:
		case <-time.After(firstReadWait):
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.started && off > 0 {
		return 0, ErrEncryptedSeek
	}
	if !x.started {
		x.start()
	}
	end := min(off+int64(len(p)), x.size)
	made := x.base + int64(len(x.kept))
	if off < x.base || off > made+maxSkip {
		return 0, ErrEncryptedSeek
	}
	for made < end && !x.eof {
		buf := make([]byte, readChunk)
		n, err := io.ReadFull(x.pr, buf)
		x.kept = append(x.kept, buf[:n]...)
		made += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			x.eof = true
		} else if err != nil {
			return 0, err
		}
	}
	if off >= made {
		return 0, io.EOF
	}
	n := copy(p, x.kept[off-x.base:min(end, made)-x.base])
	if len(x.kept) > 2*keptBehind { // keep what late reads may still ask for, copied now and then
		drop := len(x.kept) - keptBehind
		x.kept = append(x.kept[:0:0], x.kept[drop:]...)
		x.base += int64(drop)
	}
	if off+int64(n) >= x.size {
		x.sentEnd = true
		return n, io.EOF
	}
	return n, nil
}

// TransferError records the download as aborted.
func (x *Encrypted) TransferError(err error) { x.d.TransferError(err) }

// Close stops the encryption and closes the download (which records it).
// A message not sent to its end picks nothing up, even when all of the
// plaintext went into it.
func (x *Encrypted) Close() error {
	x.mu.Lock()
	if x.pr != nil {
		x.pr.CloseWithError(errors.New("download closed"))
	}
	if !x.sentEnd {
		x.d.pickUp = false
	}
	x.mu.Unlock()
	x.wg.Wait()
	return x.d.Close()
}

// refusedReader is a download whose encryption could not be made: every
// read is refused with why.
type refusedReader struct {
	*Download
	err error
}

func (r refusedReader) ReadAt([]byte, int64) (int, error) { return 0, r.err }
