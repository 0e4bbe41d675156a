package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"sync"
)

// ErrChainBroken is what every verification failure wraps: the trail was
// edited, records were inserted, removed or reordered, or its tail was cut.
var ErrChainBroken = errors.New("audit chain broken")

// VerifyError says where the chain breaks: File:Line, the seq expected or
// found there, and what is wrong.
type VerifyError struct {
	File    string
	Line    int    // 1-based; 0 = the file as a whole
	Seq     uint64 // 0 = not known
	Problem string
}

func (e *VerifyError) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Problem)
	case e.Seq == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Problem)
	}
	return fmt.Sprintf("%s:%d: seq %d: %s", e.File, e.Line, e.Seq, e.Problem)
}

func (e *VerifyError) Unwrap() error { return ErrChainBroken }

// VerifyInput is one file of a trail: the live file or a closed segment.
type VerifyInput struct {
	Name string
	R    io.Reader
}

// Checkpoint is a checkpoint line kept apart from the trail (the
// <file>.checkpoint sidecar). The trail must hold it verbatim: if it ends
// before the checkpoint's seq, its tail was cut.
type Checkpoint struct {
	Name string
	Line []byte
}

// VerifyOptions are the anchors Verify checks the trail against.
type VerifyOptions struct {
	HMACKey     []byte // every line's MAC must verify; nil = MACs not checked
	Checkpoints []Checkpoint
	// Each, if set, sees every record that joined the chain, in trail
	// order, as soon as it has: a reader of the trail (the report) streams
	// what was verified without a second parser, and on a break has seen
	// exactly the records before it. An error from Each stops Verify and is
	// returned as is. Each must not keep r.
	Each func(r *Record) error
}

// Report describes a trail that verified.
type Report struct {
	Records       int
	FirstSeq      uint64 // > 1: earlier records were not given
	LastSeq       uint64
	Files         int
	MACChecked    bool
	CheckpointSeq uint64   // the newest checkpoint found in the trail; 0 = none given or none in range
	Notes         []string // crash artefacts and limits, as "FILE:LINE: note"
}

// maxLine bounds a line Verify reads: records are far shorter.
const maxLine = 1 << 20

// Verify checks that the files form one unbroken trail. They may come in
// any order: Verify orders them by the seq of their first record. Every line
// must be a record whose seq is one more than the one before and whose prev
// is the SHA-256 of the line before (64 zeros for seq 1), with a valid MAC
// when opts.HMACKey is set. A torn line (not JSON) is a crash artefact,
// reported in Report.Notes, only where a crash leaves one: as the last line
// of a file, or as the line right before a server_start (the restart after
// the crash) that chains past it; in the presign trail, where each record
// is the one record of an s3sftpd presign run, before a presign record.
// Anywhere else, or two in a row, it was put
// there: lines injected mid-trail would otherwise pass as torn. The first
// break is returned as a *VerifyError, which wraps ErrChainBroken; any other
// error is a failure to read.
func Verify(inputs []VerifyInput, opts VerifyOptions) (*Report, error) {
	srcs := make([]*source, 0, len(inputs))
	for _, in := range inputs {
		s := &source{name: in.Name, br: bufio.NewReader(in.R)}
		if err := s.peek(); err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	// Files without a record go last, where a torn leftover belongs.
	slices.SortStableFunc(srcs, func(a, b *source) int {
		return cmp.Or(cmp.Compare(btoi(a.first == 0), btoi(b.first == 0)), cmp.Compare(a.first, b.first))
	})
	c := &checker{key: opts.HMACKey, cps: map[uint64][]cpEntry{}, each: opts.Each}
	for _, cp := range opts.Checkpoints {
		line := bytes.TrimRight(cp.Line, "\r\n")
		var r Record
		if !isObject(line) || json.Unmarshal(line, &r) != nil || r.Seq == 0 {
			return nil, &VerifyError{File: cp.Name, Problem: "checkpoint is not an audit record"}
		}
		c.cps[r.Seq] = append(c.cps[r.Seq], cpEntry{name: cp.Name, line: line, rec: r})
	}
	// Lines are read, hashed and decoded ahead, on another goroutine, while
	// this one follows the chain (and runs Each): on two cores a report
	// reads the trail at nearly twice the speed.
	ahead := make(chan []parsed, 4)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readAhead(srcs, opts.HMACKey, ahead, done)
	}()
	defer wg.Wait()
	defer close(done)
	for batch := range ahead {
		for i := range batch {
			p := &batch[i]
			switch {
			case p.err != nil:
				return nil, p.err
			case p.end:
				c.noteTorn("the file ends there")
			default:
				if err := c.line(p); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := c.end(srcs); err != nil {
		return nil, err
	}
	return &Report{
		Records: c.n, FirstSeq: c.first, LastSeq: c.last, Files: len(srcs),
		MACChecked: len(c.key) > 0, CheckpointSeq: c.cpFound, Notes: c.notes,
	}, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// source reads the lines of one input, after peeking at its first record.
type source struct {
	name   string
	br     *bufio.Reader
	ahead  [][]byte // lines read by peek, not yet checked
	lineNo int
	first  uint64 // seq of the first record; 0 = none found
}

// peekLines bounds how far peek looks for a file's first record.
const peekLines = 64

// peek reads lines until the first record, to learn the file's place.
func (s *source) peek() error {
	for len(s.ahead) < peekLines {
		line, err := readLine(s.br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", s.name, err)
		}
		s.ahead = append(s.ahead, line)
		if seq := recordSeq(line); seq != 0 && isObject(line) {
			s.first = seq
			return nil
		}
	}
	return nil
}

func (s *source) next() ([]byte, error) {
	s.lineNo++
	if len(s.ahead) > 0 {
		line := s.ahead[0]
		s.ahead = s.ahead[1:]
		return line, nil
	}
	line, err := readLine(s.br)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", s.name, err)
	}
	return line, err
}

// readLine returns the next line without its newline, or io.EOF. A line
// longer than maxLine comes back cut to maxLine+1 bytes, which no record
// parser accepts.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) <= maxLine {
			line = append(line, chunk[:min(len(chunk), maxLine+1-len(line))]...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err != nil && err != io.EOF:
			return nil, err
		}
		return bytes.TrimSuffix(line, []byte("\n")), nil
	}
}

func isObject(line []byte) bool { return len(line) > 0 && line[0] == '{' }

type cpEntry struct {
	name string
	line []byte
	rec  Record
}

type position struct {
	file string
	line int
}

// checker follows the chain line by line.
type checker struct {
	key  []byte
	cps  map[uint64][]cpEntry
	each func(*Record) error

	n           int
	first, last uint64
	prevHash    [sha256.Size]byte
	lastAt      position
	torn        *position // a line that is not JSON, waiting for the next record or the end of its file
	cpFound     uint64
	notes       []string
}

func (c *checker) fail(at position, seq uint64, format string, args ...any) error {
	return &VerifyError{File: at.file, Line: at.line, Seq: seq, Problem: fmt.Sprintf(format, args...)}
}

// parsed is what checking a line needs that depends on the line alone,
// worked out by readAhead.
type parsed struct {
	file      string
	no        int
	line      []byte
	end       bool  // no line: the end of file's lines
	err       error // reading failed
	rec       Record
	decodeErr error
	valid     bool // the line is JSON (decodeRecord validates it, json.Valid only for a line it refuses)
	hash      [sha256.Size]byte
	macErr    string // checkMAC's verdict, with a key and a record
}

// batchLines is how many lines readAhead sends at once.
const batchLines = 256

// readAhead reads the lines of srcs in order, decodes and hashes each (and
// checks its MAC with key), and sends them in batches on out, which it
// closes; a batch ends with an end marker after each file's last line. It
// stops at a read error (sent as the last item) or when done is closed.
func readAhead(srcs []*source, key []byte, out chan<- []parsed, done <-chan struct{}) {
	defer close(out)
	var mac hash.Hash
	if len(key) > 0 {
		mac = hmac.New(sha256.New, key)
	}
	batch := make([]parsed, 0, batchLines)
	send := func() bool {
		select {
		case out <- batch:
			batch = make([]parsed, 0, batchLines)
			return true
		case <-done:
			return false
		}
	}
	for _, s := range srcs {
		for {
			line, err := s.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				batch = append(batch, parsed{err: err})
				send()
				return
			}
			batch = append(batch, parsed{file: s.name, no: s.lineNo, line: line})
			p := &batch[len(batch)-1]
			p.decodeErr = decodeRecord(line, &p.rec)
			p.valid = p.decodeErr == nil || json.Valid(line)
			p.hash = sha256.Sum256(line)
			if mac != nil && p.decodeErr == nil {
				p.macErr = checkMAC(line, mac)
			}
			if len(batch) == cap(batch) && !send() {
				return
			}
		}
		batch = append(batch, parsed{file: s.name, end: true})
		if len(batch) == cap(batch) && !send() {
			return
		}
	}
	if len(batch) > 0 {
		send()
	}
}

func (c *checker) line(p *parsed) error {
	at := position{p.file, p.no}
	line, r := p.line, &p.rec
	if !p.valid {
		if c.torn != nil {
			return c.fail(*c.torn, c.last+1, "not an audit record, nor is the line after it: a crash tears only the line being written; lines were injected or edited")
		}
		c.torn = &at
		return nil
	}
	if !isObject(line) || p.decodeErr != nil || r.Seq == 0 {
		return c.fail(at, c.last+1, "not an audit record")
	}
	if len(c.key) > 0 && p.macErr != "" {
		return c.fail(at, r.Seq, "%s", p.macErr)
	}
	if c.n == 0 {
		if err := c.tornBefore(*r); err != nil {
			return err
		}
		c.noteTorn("the " + r.Event + " of a new run follows it")
		if r.Seq == 1 && r.Prev != strings.Repeat("0", 2*sha256.Size) {
			return c.fail(at, r.Seq, "the first record of a trail must have prev = 64 zeros: records before it were removed, or it was edited")
		}
		if r.Seq > 1 {
			c.notes = append(c.notes, fmt.Sprintf("%s:%d: records before seq %d were not given: the chain is checked from there", p.file, p.no, r.Seq))
		}
		c.first = r.Seq
	} else {
		chained := r.Seq == c.last+1 && r.Prev == hex.EncodeToString(c.prevHash[:])
		if !chained && c.torn != nil {
			return c.fail(*c.torn, c.last+1, "not an audit record, and the record after it (%s:%d, seq %d) does not chain to the one before it (seq %d): lines were edited or removed", p.file, p.no, r.Seq, c.last)
		}
		if err := c.tornBefore(*r); err != nil {
			return err
		}
		switch {
		case r.Seq == c.last+2:
			return c.fail(at, r.Seq, "follows seq %d: record %d is missing (removed or reordered)", c.last, c.last+1)
		case r.Seq > c.last+1:
			return c.fail(at, r.Seq, "follows seq %d: records %d..%d are missing (removed or reordered)", c.last, c.last+1, r.Seq-1)
		case r.Seq <= c.last:
			return c.fail(at, r.Seq, "follows seq %d: a record was inserted, duplicated or reordered", c.last)
		case !chained:
			return c.fail(at, r.Seq, "prev is not the SHA-256 of the line before (%s:%d, seq %d): that line was edited, or a record was inserted or removed", c.lastAt.file, c.lastAt.line, c.last)
		}
		c.noteTorn("the " + r.Event + " of a new run follows it and chains past it")
	}
	for _, cp := range c.cps[r.Seq] {
		if !bytes.Equal(line, cp.line) {
			return c.fail(at, r.Seq, "differs from the checkpoint in %s: the record was edited or the trail rewritten", cp.name)
		}
		c.cpFound = max(c.cpFound, r.Seq)
	}
	c.n++
	c.last = r.Seq
	c.prevHash = p.hash
	c.lastAt = at
	if c.each != nil {
		return c.each(r)
	}
	return nil
}

// tornBefore refuses a torn line before r unless r is the first record of
// a run (server_start; presign, the one record of a presign run): a crash
// tears the line being written, and the next record is the restart's.
func (c *checker) tornBefore(r Record) error {
	if c.torn == nil || r.Event == EventServerStart || r.Event == EventPresign {
		return nil
	}
	return c.fail(*c.torn, c.last+1, "not an audit record, and neither the last line of its file nor the line before a server_start, the only places a crash leaves a torn line: a line was injected or edited")
}

// noteTorn reports the torn line seen since the last record as a crash
// artefact: nothing chains to it.
func (c *checker) noteTorn(why string) {
	if t := c.torn; t != nil {
		c.notes = append(c.notes, fmt.Sprintf("%s:%d: torn line (a crash mid-write), not part of the chain: %s", t.file, t.line, why))
	}
	c.torn = nil
}

// end checks what only the end of the trail shows: that it holds records
// and reaches every checkpoint.
func (c *checker) end(srcs []*source) error {
	if c.n == 0 {
		name := "(no files)"
		if len(srcs) > 0 {
			name = srcs[0].name
		}
		return &VerifyError{File: name, Problem: "no audit records"}
	}
	seqs := make([]uint64, 0, len(c.cps))
	for seq := range c.cps {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		cp := c.cps[seq][0]
		switch {
		case seq > c.last:
			return c.fail(c.lastAt, c.last, "log ends at seq %d but checkpoint seq %d was written at %s (%s): records after %d were removed",
				c.last, seq, cp.rec.Time.UTC().Format(timeLayout), cp.name, c.last)
		case seq < c.first:
			c.notes = append(c.notes, fmt.Sprintf("%s: checkpoint seq %d precedes the records given: not checked", cp.name, seq))
		}
	}
	return nil
}

// checkMAC returns what is wrong with line's MAC, checked with m (an
// HMAC-SHA256 with the trail's key), or "".
func checkMAC(line []byte, m hash.Hash) string {
	i := bytes.LastIndex(line, []byte(`,"mac":"`))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return "no MAC: the record was not written with the key"
	}
	got, err := hex.DecodeString(string(line[i+len(`,"mac":"`) : len(line)-2]))
	m.Reset()
	m.Write(line[:i])
	m.Write([]byte("}"))
	if err != nil || !hmac.Equal(got, m.Sum(nil)) {
		return "MAC mismatch: the record was edited, or written with another key"
	}
	return ""
}
