package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/s3sftpd/s3sftpd/internal/stricttoml"
)

// Error is one problem in a config file or in a keys file it names.
type Error struct {
	File string // the path as given to Load, or the resolved keys file path
	Line int    // 1-based
	Col  int    // 1-based, in bytes
	Msg  string // one line

	err error // cause, if any, for errors.Is
}

// Error returns "FILE:LINE:COL: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Unwrap returns the cause, such as an fs.PathError when the config file
// cannot be read.
func (e *Error) Unwrap() error { return e.err }

// Errors is every problem Load found, sorted by file, line and column.
type Errors []*Error

// Error returns one line per problem.
func (es Errors) Error() string { return strings.Join(es.Lines(), "\n") }

// Lines returns one "FILE:LINE:COL: message" line per problem.
func (es Errors) Lines() []string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return lines
}

// Unwrap lets errors.Is and errors.As see each problem.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// sorted returns nil if there are no problems, else es sorted with exact
// duplicates removed.
func (es Errors) sorted() error {
	if len(es) == 0 {
		return nil
	}
	es = slices.Clone(es)
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	return slices.CompactFunc(es, func(a, b *Error) bool {
		return a.File == b.File && a.Line == b.Line && a.Col == b.Col && a.Msg == b.Msg
	})
}

// addAt records a problem at a known position.
func (l *loader) addAt(file string, p stricttoml.Position, format string, args ...any) {
	l.errs = append(l.errs, &Error{
		File: file,
		Line: max(p.Line, 1),
		Col:  max(p.Col, 1),
		Msg:  oneLine(fmt.Sprintf(format, args...)),
	})
}

// errf records a problem with the key at path, as "path: message". When
// the key is not in the file it points at the nearest enclosing table.
func (l *loader) errf(path, format string, args ...any) {
	l.addAt(l.file, l.idx.Find(path), "%s: %s", path, fmt.Sprintf(format, args...))
}

// msgf records a problem positioned at the key at path, without prefixing
// the message with the path.
func (l *loader) msgf(path, format string, args ...any) {
	l.addAt(l.file, l.idx.Find(path), format, args...)
}

// oneLine escapes line breaks, so that every problem stays one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
