package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// tailWindow is how much of an existing log Open reads to find its last
// record: far more than one line.
const tailWindow = 64 << 10

// fileState is what Open learns from the files already on disk, so a
// restarted server continues the chain where it ended.
type fileState struct {
	prev     [sha256.Size]byte // SHA-256 of the last complete line of the trail
	last     []byte            // that line, for the checkpoint sidecar
	seq      uint64            // its seq; 0 = a new trail
	firstSeq uint64            // seq of the first record in the current file; 0 = none yet
	size     int64             // size of the current file
	tornTail bool              // its last line was torn by a crash (and is now ended)
}

// openFile opens the audit file for appending, creating it (and its
// directory) owner-only. It returns the chain state the trail ends with: the
// last complete line of the file or, when the file holds no record (it was
// just rotated, or Close rotated it away), of the newest closed segment
// beside it. A torn last line (a crash mid-write) is ended with a newline
// and left in place, not chained to, for a verifier to report.
func openFile(path string) (*os.File, fileState, error) {
	var st fileState
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, st, fmt.Errorf("create audit directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, st, fmt.Errorf("open audit file: %w", err)
	}
	fail := func(verb string, err error) (*os.File, fileState, error) {
		f.Close()
		return nil, st, fmt.Errorf("%s audit file: %w", verb, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail("restrict", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fail("stat", err)
	}
	st.size = fi.Size()
	tail, err := readTail(f, st.size)
	if err != nil {
		return fail("read", err)
	}
	if len(tail) > 0 && tail[len(tail)-1] != '\n' {
		// End the torn line, so the next record starts a line of its own.
		if _, err := f.Write([]byte("\n")); err != nil {
			return fail("write", err)
		}
		st.size++
		st.tornTail = true
	}
	if st.last, st.seq = lastRecord(tail); st.seq != 0 {
		st.prev = sha256.Sum256(st.last)
		head, err := io.ReadAll(io.NewSectionReader(f, 0, min(st.size, tailWindow)))
		if err != nil {
			return fail("read", err)
		}
		st.firstSeq = firstRecord(head)
		return f, st, nil
	}
	// No record here: continue from the newest closed segment, if any.
	segs, err := listSegments(path)
	if err != nil {
		return fail("list segments of", err)
	}
	if len(segs) == 0 {
		return f, st, nil
	}
	newest := filepath.Join(filepath.Dir(path), segs[len(segs)-1])
	sf, err := os.Open(newest)
	if err != nil {
		return fail("open the newest segment of", err)
	}
	defer sf.Close()
	sfi, err := sf.Stat()
	if err != nil {
		return fail("stat the newest segment of", err)
	}
	stail, err := readTail(sf, sfi.Size())
	if err != nil {
		return fail("read the newest segment of", err)
	}
	if st.last, st.seq = lastRecord(stail); st.seq != 0 {
		st.prev = sha256.Sum256(st.last)
	}
	return f, st, nil
}

// readTail returns the last tailWindow bytes of f, which is size bytes long.
func readTail(f *os.File, size int64) ([]byte, error) {
	start := max(0, size-tailWindow)
	return io.ReadAll(io.NewSectionReader(f, start, size-start))
}

// lastRecord returns the last line of data that is a record, and its seq.
func lastRecord(data []byte) ([]byte, uint64) {
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if seq := recordSeq(lines[i]); seq != 0 {
			return bytes.Clone(lines[i]), seq
		}
	}
	return nil, 0
}

// firstRecord returns the seq of the first line of data that is a record, or 0.
func firstRecord(data []byte) uint64 {
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if seq := recordSeq(line); seq != 0 {
			return seq
		}
	}
	return 0
}

// recordSeq is the seq of line, or 0 when it is not a record.
func recordSeq(line []byte) uint64 {
	var r struct{ Seq uint64 }
	if len(line) == 0 || json.Unmarshal(line, &r) != nil {
		return 0
	}
	return r.Seq
}
