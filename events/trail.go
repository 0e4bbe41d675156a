package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/s3sftpd/s3sftpd/audit"
)

// reader reads the trail's records in order from a seq on, across the
// closed segments beside the live file and the rotations that happen while
// it reads. It follows audit's file layout (audit/rotate.go): a segment is
// named after the seq of its first record and ends with a segment_end line.
type reader struct {
	live string // the live trail file, audit.file

	f       *os.File
	br      *bufio.Reader
	closed  bool   // f is a closed segment: its end is the end of its records
	partial []byte // a line whose newline has not been written yet
	want    uint64 // seq of the next record to return
	ended   uint64 // seq of the last segment_end read: its segment is done
	lost    uint64 // records found missing (segments deleted), in all
}

// record is one line of the trail and what it holds.
type record struct {
	line []byte
	rec  audit.Record
}

// next returns the next record, or nil when the trail holds none yet.
func (r *reader) next() (*record, error) {
	for {
		if r.f == nil {
			if err := r.open(); err != nil || r.f == nil {
				return nil, err
			}
		}
		line, err := r.readLine()
		if errors.Is(err, io.EOF) {
			if !r.closed {
				return nil, nil // the live file: more will come
			}
			r.ended = max(r.ended, r.want-1) // a segment cut short by hand: go on with the next file
			r.close()
			continue
		}
		if err != nil {
			r.close()
			return nil, err
		}
		var rec record
		if json.Unmarshal(line, &rec.rec) != nil || rec.rec.Seq == 0 {
			continue // a line a crash tore (audit ended it with a newline at restart)
		}
		seq := rec.rec.Seq
		if rec.rec.Event == audit.EventSegmentEnd {
			r.ended = seq // the next record is in the next file
			r.close()
		}
		if seq < r.want {
			continue
		}
		if seq > r.want {
			r.lost += seq - r.want
		}
		rec.line = line
		r.want = seq + 1
		return &rec, nil
	}
}

// readLine returns the next whole line of f without its newline, or io.EOF
// when f ends before one.
func (r *reader) readLine() ([]byte, error) {
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.partial = append(r.partial, chunk...)
		switch {
		case err == nil:
			line := bytes.TrimSuffix(r.partial, []byte("\n"))
			r.partial = nil
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && r.closed:
			r.partial = nil // a segment's torn tail
		}
		return nil, err
	}
}

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.br, r.partial = nil, nil, nil
}

// open opens the file holding record r.want: the live file when its first
// record is at or before it, else the newest segment that starts at or
// before it (the oldest there is, if records were deleted), unless that one
// is done: then the segment after it, or the live file. f stays nil when
// there is no trail yet.
func (r *reader) open() error {
	lf, err := os.Open(r.live)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open audit trail: %w", err)
	}
	if lf != nil {
		if first := firstSeq(lf); first != 0 && first <= r.want {
			r.use(lf, false)
			return nil
		}
	}
	segs, err := segments(r.live)
	if err != nil {
		if lf != nil {
			lf.Close()
		}
		return err
	}
	i := len(segs) - 1
	for i > 0 && segs[i].first > r.want {
		i--
	}
	if i >= 0 && segs[i].first <= r.ended {
		i++ // read to its end already
	}
	if i < 0 || i >= len(segs) { // the live file holds what comes next
		if lf != nil {
			r.use(lf, false)
		}
		return nil
	}
	if lf != nil {
		lf.Close()
	}
	sf, err := os.Open(filepath.Join(filepath.Dir(r.live), segs[i].name))
	if err != nil {
		return fmt.Errorf("open audit segment: %w", err)
	}
	r.use(sf, true)
	return nil
}

func (r *reader) use(f *os.File, closed bool) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return
	}
	r.f, r.br, r.closed, r.partial = f, bufio.NewReaderSize(f, 64<<10), closed, nil
}

// firstSeq is the seq of the first record of f, 0 if it has none yet.
func firstSeq(f *os.File) uint64 {
	line, err := bufio.NewReader(f).ReadSlice('\n')
	if err != nil {
		return 0
	}
	var rec struct{ Seq uint64 }
	if json.Unmarshal(line, &rec) != nil {
		return 0
	}
	return rec.Seq
}

// segment is a closed segment of the trail and the seq of its first record.
type segment struct {
	name  string
	first uint64
}

// segments lists the closed segments of live, oldest first: the names
// audit gives them, live's stem, a dash and 12 digits.
func segments(live string) ([]segment, error) {
	entries, err := os.ReadDir(filepath.Dir(live))
	if err != nil {
		return nil, fmt.Errorf("list audit segments: %w", err)
	}
	base := filepath.Base(live)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext) + "-"
	var out []segment
	for _, e := range entries {
		n := e.Name()
		digits, ok := strings.CutPrefix(strings.TrimSuffix(n, ext), stem)
		if !ok || !strings.HasSuffix(n, ext) || len(digits) != 12 || !e.Type().IsRegular() {
			continue
		}
		if first, err := strconv.ParseUint(digits, 10, 64); err == nil {
			out = append(out, segment{n, first})
		}
	}
	slices.SortFunc(out, func(a, b segment) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// headSeq is the seq of the last record of the trail: of the live file's
// last record, else of the newest segment's. 0 when there is none.
func headSeq(live string) uint64 {
	if seq := lastSeq(live); seq != 0 {
		return seq
	}
	segs, err := segments(live)
	if err != nil || len(segs) == 0 {
		return 0
	}
	return lastSeq(filepath.Join(filepath.Dir(live), segs[len(segs)-1].name))
}

// lastSeq is the seq of the last whole record line in the file at path.
func lastSeq(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	const window = 64 << 10 // far more than one record
	start := max(0, st.Size()-window)
	tail, err := io.ReadAll(io.NewSectionReader(f, start, st.Size()-start))
	if err != nil {
		return 0
	}
	lines := bytes.Split(tail, []byte("\n"))
	for i := len(lines) - 2; i >= 0; i-- { // the last piece follows the last newline: not yet a line
		var rec struct{ Seq uint64 }
		if json.Unmarshal(lines[i], &rec) == nil && rec.Seq != 0 {
			return rec.Seq
		}
	}
	return 0
}
