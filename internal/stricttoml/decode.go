package stricttoml

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Decoding straight into the struct would stop at the first wrong type,
// and BurntSushi/toml matches a key to a field case-insensitively when no
// field matches exactly (and picks one at random when both "listen" and
// "Listen" are set). So each table is decoded into a
// map[string]toml.Primitive, which cannot fail and keeps keys exact, and
// each field is then filled by hand from its exact key, reporting every
// wrong type. Keys that the struct lacks are found by walking
// MetaData.Keys against its type, and MetaData.Undecoded is checked too.

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// Hinter is a field type decoded from a string (an encoding.TextUnmarshaler)
// that says what the string looks like, for the message when a value of
// another type is given: `a duration string such as "30s"`.
type Hinter interface{ TOMLHint() string }

// Problem is one thing wrong in the document, at the key it is about (or
// the nearest enclosing table, when the key is not in the file).
type Problem struct {
	Pos Position
	Msg string
}

// Result is what Decode found.
type Result struct {
	Index    *Index          // where each key is; nil after a syntax error
	Present  map[string]bool // key paths set in the document
	Failed   map[string]bool // key paths whose value could not be decoded
	Problems []Problem
	Syntax   bool // the document is not TOML: nothing was decoded
}

// Decode decodes src into dst, a pointer to a struct that holds the
// defaults; the struct's fields name their keys with `toml:"name"` tags and
// are strings, ints, bools, slices of strings, encoding.TextUnmarshalers,
// structs (tables) and slices of structs (arrays of tables). Every problem
// is in the Result; the fields of the keys without one are set.
func Decode(src []byte, dst any) *Result {
	d := &decoder{r: &Result{Present: map[string]bool{}, Failed: map[string]bool{}}, schema: reflect.TypeOf(dst).Elem()}
	var root map[string]toml.Primitive
	md, err := toml.Decode(string(src), &root)
	if err != nil {
		d.r.Syntax = true
		var pe toml.ParseError
		if errors.As(err, &pe) {
			d.add(Position{Line: pe.Position.Line, Col: pe.Position.Col}, "syntax error: %s", pe.Message)
		} else {
			d.add(Position{Line: 1, Col: 1}, "%v", err)
		}
		return d.r
	}
	d.md, d.r.Index = md, Scan(src)
	d.fields(root, reflect.ValueOf(dst).Elem(), "")
	d.unknownKeys()
	return d.r
}

// decoder holds the state of one Decode.
type decoder struct {
	md     toml.MetaData
	schema reflect.Type
	r      *Result
}

// add records a problem at a known position.
func (d *decoder) add(p Position, format string, args ...any) {
	d.r.Problems = append(d.r.Problems, Problem{p, fmt.Sprintf(format, args...)})
}

// errf records a problem with the key at path, as "path: message".
func (d *decoder) errf(path, format string, args ...any) {
	d.add(d.r.Index.Find(path), "%s: %s", path, fmt.Sprintf(format, args...))
}

// tomlName returns the TOML key of f, or "" if f is not read from TOML.
func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// isLeaf reports whether t holds a TOML value rather than a table or an
// array of tables.
func isLeaf(t reflect.Type) bool {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// fields fills dst, a struct, from the keys of the table at path.
func (d *decoder) fields(table map[string]toml.Primitive, dst reflect.Value, path string) {
	for i := range dst.NumField() {
		f := dst.Type().Field(i)
		name := tomlName(f)
		prim, ok := table[name]
		if name == "" || !ok {
			continue
		}
		key := JoinKey(path, name)
		d.r.Present[key] = true
		switch fv := dst.Field(i); {
		case isLeaf(f.Type):
			var v any
			if err := d.md.PrimitiveDecode(prim, &v); err != nil {
				d.errf(key, "%v", err) // cannot happen: any takes every value
				continue
			}
			d.value(v, fv, key)
		case f.Type.Kind() == reflect.Slice:
			d.tables(prim, fv, key)
		default:
			d.table(prim, fv, key)
		}
	}
}

// table decodes a TOML table into dst, a struct.
func (d *decoder) table(prim toml.Primitive, dst reflect.Value, path string) {
	var v any
	if err := d.md.PrimitiveDecode(prim, &v); err != nil {
		d.errf(path, "%v", err) // cannot happen: any takes every value
		return
	}
	if _, ok := v.(map[string]any); !ok {
		d.r.Failed[path] = true
		d.errf(path, "expected a table, got %s", describe(v))
		return
	}
	var table map[string]toml.Primitive
	if err := d.md.PrimitiveDecode(prim, &table); err != nil {
		d.errf(path, "%v", err) // cannot happen: it is a table
		return
	}
	d.fields(table, dst, path)
}

// tables decodes an array of tables into dst, a slice of structs.
func (d *decoder) tables(prim toml.Primitive, dst reflect.Value, path string) {
	var elems []toml.Primitive
	if err := d.md.PrimitiveDecode(prim, &elems); err != nil {
		d.r.Failed[path] = true
		d.errf(path, "expected an array of tables ([[%s]])", path)
		return
	}
	s := reflect.MakeSlice(dst.Type(), len(elems), len(elems))
	for i, e := range elems {
		d.table(e, s.Index(i), path+"["+strconv.Itoa(i)+"]")
	}
	dst.Set(s)
}

// value converts the TOML value v into dst, reporting a wrong type.
func (d *decoder) value(v any, dst reflect.Value, path string) {
	fail := func(format string, args ...any) {
		d.r.Failed[path] = true
		d.errf(path, format, args...)
	}
	if u, ok := dst.Addr().Interface().(encoding.TextUnmarshaler); ok {
		s, ok := v.(string)
		if !ok {
			fail("expected %s, got %s", expected(dst.Type()), describe(v))
			return
		}
		if err := u.UnmarshalText([]byte(s)); err != nil {
			fail("%v", err)
		}
		return
	}
	switch dst.Kind() {
	case reflect.String:
		if s, ok := v.(string); ok {
			dst.SetString(s)
			return
		}
	case reflect.Int:
		if n, ok := v.(int64); ok {
			if dst.OverflowInt(n) {
				fail("%d is out of range", n)
				return
			}
			dst.SetInt(n)
			return
		}
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			dst.SetBool(b)
			return
		}
	case reflect.Slice:
		if dst.Type().Elem().Kind() != reflect.String {
			panic("stricttoml: unsupported field type " + dst.Type().String())
		}
		elems, ok := v.([]any)
		if !ok {
			break
		}
		// Keep the indexes of the strings: a wrong element stays "" and
		// is marked failed, so that the others are still checked.
		out := make([]string, len(elems))
		for i, e := range elems {
			if s, ok := e.(string); ok {
				out[i] = s
				continue
			}
			elem := path + "[" + strconv.Itoa(i) + "]"
			d.r.Failed[elem] = true
			d.errf(elem, "expected a string, got %s", describe(e))
		}
		dst.Set(reflect.ValueOf(out))
		return
	default:
		panic("stricttoml: unsupported field type " + dst.Type().String())
	}
	fail("expected %s, got %s", expected(dst.Type()), describe(v))
}

// expected describes the TOML a field of type t takes.
func expected(t reflect.Type) string {
	if h, ok := reflect.Zero(t).Interface().(Hinter); ok {
		return h.TOMLHint()
	}
	switch {
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice:
		return "an array of strings"
	}
	return t.String()
}

// describe names the TOML type of a decoded value, with the value when
// it is short.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case time.Time:
		return "date-time"
	case []any, []map[string]any:
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

// unknownKeys reports every key of the document that the schema lacks.
// BurntSushi/toml matches keys case-insensitively when no field matches
// exactly, so MetaData.Undecoded misses "Listen": the schema walk catches
// those.
func (d *decoder) unknownKeys() {
	reported := map[string]bool{}
	report := func(k toml.Key, near string) {
		path := renderKey(k)
		if reported[path] {
			return
		}
		reported[path] = true
		hint := ""
		if near != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", near)
		}
		ps := d.r.Index.FindAll(path)
		if len(ps) == 0 {
			ps = []Position{d.r.Index.Find(path)}
		}
		for _, p := range ps {
			d.add(p, "unknown key %q%s", path, hint)
		}
	}
	for _, k := range d.md.Undecoded() {
		// A known key is undecoded only inside a table or value of the
		// wrong type, which is reported already.
		if bad, near, _ := d.schemaCheck(k); bad != nil {
			report(bad, near)
		}
	}
	for _, k := range d.md.Keys() {
		if bad, near, _ := d.schemaCheck(k); bad != nil {
			report(bad, near)
		}
	}
}

// schemaCheck walks the schema along k. It returns the first prefix of k that
// names no field exactly, with the nearest field name if one is close, or
// underValue when k lies inside a value (a table given for a string).
func (d *decoder) schemaCheck(k toml.Key) (bad toml.Key, near string, underValue bool) {
	t := d.schema
	for i, seg := range k {
		if isLeaf(t) {
			return nil, "", true
		}
		if t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		var names []string
		found := false
		for f := range t.Fields() {
			if name := tomlName(f); name == seg {
				t, found = f.Type, true
				break
			} else if name != "" {
				names = append(names, name)
			}
		}
		if !found {
			return k[:i+1], nearest(seg, names), false
		}
	}
	return nil, "", false
}

// renderKey renders k as a path without array indexes.
func renderKey(k toml.Key) string {
	path := ""
	for _, seg := range k {
		path = JoinKey(path, seg)
	}
	return path
}

// nearest returns the name within a small edit distance of s, if any.
func nearest(s string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		limit := 2
		if len(n) <= 4 {
			limit = 1
		}
		if strings.EqualFold(s, n) {
			return n
		}
		if d := editDistance(s, n); d <= limit && d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and adjacent transpositions.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a typo
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
