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

// openFile opens the audit file for appending, creating it (and its
// directory) owner-only. It returns the chain state the file ends with, so a
// restarted server continues the chain: the SHA-256 of the last complete
// line and its seq. A torn last line (a crash mid-write) is ended with a
// newline and left in place, not chained to, for a verifier to report.
func openFile(path string) (f *os.File, prev [sha256.Size]byte, seq uint64, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, prev, 0, fmt.Errorf("create audit directory: %w", err)
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, prev, 0, fmt.Errorf("open audit file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, prev, 0, fmt.Errorf("restrict audit file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, prev, 0, fmt.Errorf("stat audit file: %w", err)
	}
	start := max(0, st.Size()-tailWindow)
	tail, err := io.ReadAll(io.NewSectionReader(f, start, st.Size()-start))
	if err != nil {
		f.Close()
		return nil, prev, 0, fmt.Errorf("read audit file: %w", err)
	}
	if len(tail) > 0 && tail[len(tail)-1] != '\n' {
		// End the torn line, so the next record starts a line of its own.
		if _, err := f.Write([]byte("\n")); err != nil {
			f.Close()
			return nil, prev, 0, fmt.Errorf("write audit file: %w", err)
		}
	}
	lines := bytes.Split(bytes.TrimSuffix(tail, []byte("\n")), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		var r struct{ Seq uint64 }
		if len(lines[i]) == 0 || json.Unmarshal(lines[i], &r) != nil || r.Seq == 0 {
			continue
		}
		return f, sha256.Sum256(lines[i]), r.Seq, nil
	}
	return f, prev, 0, nil
}
