// Package stricttoml decodes a TOML document into a Go struct strictly,
// and says where each problem is: every key must name a field exactly
// (an unknown one is reported with the nearest known name), every value
// must have its field's type, and each problem carries the line and column
// of its key. BurntSushi/toml parses; it does not expose positions, so
// Scan reads the source for them. config holds the schema and its rules;
// this package knows none of them.
//
// Paths are rendered as in messages: "server.listen", "users[2].home",
// "users[0].keys[1]". A table header is indexed under its own path
// ("users[2]"), an array element under its index.
package stricttoml

import (
	"bytes"
	"strconv"
	"strings"
)

// Scan only runs on source the TOML parser accepted, so it can be lenient;
// on anything else it must still stop and not panic.

// Position is a 1-based line and byte column.
type Position struct{ Line, Col int }

// Index is the position of every table header, key and array element of
// one document.
type Index struct {
	at   map[string]Position
	keys []string // of headers and keys, not array elements, in source order
}

// Find returns the position of path, else of its nearest indexed parent,
// else 1:1.
func (x *Index) Find(path string) Position {
	for {
		if p, ok := x.at[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return Position{1, 1}
		}
		path = path[:i]
	}
}

// FindAll returns the position of every header or key whose path is path
// once array indexes are removed: "users.name" finds "users[0].name" and
// "users[1].name", but "users.keys" does not find "users[0].keys[1]".
func (x *Index) FindAll(path string) []Position {
	var ps []Position
	for _, k := range x.keys {
		if stripIndexes(k) == path {
			ps = append(ps, x.at[k])
		}
	}
	return ps
}

// add indexes a table header or a key.
func (x *Index) add(path string, p Position) {
	if _, ok := x.at[path]; !ok {
		x.at[path] = p
		x.keys = append(x.keys, path)
	}
}

// addElem indexes an array element.
func (x *Index) addElem(path string, p Position) {
	if _, ok := x.at[path]; !ok {
		x.at[path] = p
	}
}

// Scan returns the position of every table header, key and array
// element in src.
func Scan(src []byte) *Index {
	s := &scanner{
		src:    src,
		line:   1,
		col:    1,
		x:      &Index{at: map[string]Position{}},
		arrays: map[string]int{},
	}
	if bytes.HasPrefix(src, []byte("\ufeff")) { // a byte order mark is not a column
		s.off = 3
	}
	s.document()
	return s.x
}

type scanner struct {
	src       []byte
	off       int
	line, col int
	x         *Index
	arrays    map[string]int // array-of-tables path → elements so far
}

func (s *scanner) document() {
	table := ""
	for {
		s.skipBlank()
		if s.off >= len(s.src) {
			return
		}
		start := s.pos()
		if s.peek() == '[' {
			s.next()
			array := s.peek() == '['
			if array {
				s.next()
			}
			table = s.header(s.key(), array)
			s.x.add(table, start)
		} else if segs := s.key(); len(segs) > 0 {
			path := s.dotted(table, segs, start)
			s.skipSpace()
			if s.peek() == '=' {
				s.next()
				s.value(path)
			}
		}
		s.skipLine()
	}
}

// header returns the path of a table header, adding the current index of
// every array of tables it passes through.
func (s *scanner) header(segs []string, array bool) string {
	path := ""
	for i, seg := range segs {
		path = JoinKey(path, seg)
		n, isArray := s.arrays[path]
		switch {
		case array && i == len(segs)-1:
			s.arrays[path] = n + 1
			path += "[" + strconv.Itoa(n) + "]"
		case isArray:
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

// dotted indexes a dotted key and its implicit parents at p.
func (s *scanner) dotted(table string, segs []string, p Position) string {
	path := table
	for _, seg := range segs {
		path = JoinKey(path, seg)
		s.x.add(path, p)
	}
	return path
}

// value skips one value, indexing the elements of arrays and the keys of
// inline tables under path.
func (s *scanner) value(path string) {
	s.skipSpace()
	switch s.peek() {
	case '"', '\'':
		s.str()
	case '[':
		s.next()
		for i := 0; ; i++ {
			s.skipBlank()
			if c := s.peek(); c == ']' || c == 0 {
				s.next()
				return
			}
			start := s.off
			elem := path + "[" + strconv.Itoa(i) + "]"
			s.x.addElem(elem, s.pos())
			s.value(elem)
			s.skipBlank()
			if s.peek() == ',' {
				s.next()
			} else if s.off == start {
				s.next() // not TOML; make progress
			}
		}
	case '{':
		s.next()
		for {
			s.skipBlank()
			if c := s.peek(); c == '}' || c == 0 {
				s.next()
				return
			}
			start, p := s.off, s.pos()
			if segs := s.key(); len(segs) > 0 {
				sub := s.dotted(path, segs, p)
				s.skipSpace()
				if s.peek() == '=' {
					s.next()
					s.value(sub)
				}
			}
			s.skipBlank()
			if s.peek() == ',' {
				s.next()
			} else if s.off == start {
				s.next()
			}
		}
	default: // number, boolean or date-time; a date-time may hold a space
		for c := s.peek(); c != 0 && !strings.ContainsRune(",]}\n#", rune(c)); c = s.peek() {
			s.next()
		}
	}
}

// key reads a possibly dotted, possibly quoted key.
func (s *scanner) key() []string {
	var segs []string
	for {
		s.skipSpace()
		var seg string
		switch s.peek() {
		case '"':
			raw := s.str()
			seg = raw
			if u, err := strconv.Unquote(raw); err == nil {
				seg = u
			}
		case '\'':
			raw := s.str()
			seg = strings.Trim(raw, "'")
		default:
			start := s.off
			for c := s.peek(); c != 0 && !strings.ContainsRune(" \t\r\n=.[]{},#\"'", rune(c)); c = s.peek() {
				s.next()
			}
			if s.off == start {
				return segs
			}
			seg = string(s.src[start:s.off])
		}
		segs = append(segs, seg)
		s.skipSpace()
		if s.peek() != '.' {
			return segs
		}
		s.next()
	}
}

// str skips a string of any of the four kinds and returns its source.
func (s *scanner) str() string {
	start := s.off
	q := s.peek()
	triple := []byte{q, q, q}
	if bytes.HasPrefix(s.src[s.off:], triple) {
		s.advance(3)
		for s.off < len(s.src) && !bytes.HasPrefix(s.src[s.off:], triple) {
			if q == '"' && s.peek() == '\\' {
				s.next()
			}
			s.next()
		}
		s.advance(3)
		for i := 0; i < 2 && s.peek() == q; i++ { // """a""""" ends in quotes
			s.next()
		}
		return string(s.src[start:s.off])
	}
	s.next()
	for c := s.peek(); c != 0 && c != q && c != '\n'; c = s.peek() {
		if q == '"' && c == '\\' {
			s.next()
		}
		s.next()
	}
	s.next()
	return string(s.src[start:s.off])
}

func (s *scanner) pos() Position { return Position{s.line, s.col} }

// peek returns the current byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.off >= len(s.src) {
		return 0
	}
	return s.src[s.off]
}

func (s *scanner) next() {
	if s.off >= len(s.src) {
		return
	}
	if s.src[s.off] == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
	s.off++
}

func (s *scanner) advance(n int) {
	for range n {
		s.next()
	}
}

func (s *scanner) skipSpace() {
	for c := s.peek(); c == ' ' || c == '\t' || c == '\r'; c = s.peek() {
		s.next()
	}
}

// skipBlank skips white space, line breaks and comments.
func (s *scanner) skipBlank() {
	for {
		s.skipSpace()
		switch s.peek() {
		case '#':
			for c := s.peek(); c != 0 && c != '\n'; c = s.peek() {
				s.next()
			}
		case '\n':
			s.next()
		default:
			return
		}
	}
}

// skipLine skips the rest of the line, including its line break.
func (s *scanner) skipLine() {
	for c := s.peek(); c != 0 && c != '\n'; c = s.peek() {
		s.next()
	}
	s.next()
}

// JoinKey appends a key segment to a path, quoting it unless it is bare.
func JoinKey(path, seg string) string {
	if !isBare(seg) {
		seg = strconv.Quote(seg)
	}
	if path == "" {
		return seg
	}
	return path + "." + seg
}

func isBare(seg string) bool {
	if seg == "" {
		return false
	}
	for _, c := range seg {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// stripIndexes removes "[n]" array indexes from a path.
func stripIndexes(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '[' {
			j := i + 1
			for j < len(path) && path[j] >= '0' && path[j] <= '9' {
				j++
			}
			if j > i+1 && j < len(path) && path[j] == ']' {
				i = j
				continue
			}
		}
		b.WriteByte(path[i])
	}
	return b.String()
}
