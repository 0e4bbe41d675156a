package report

import (
	"bufio"
	"encoding/json"
	"time"
)

// jsonFormat is one JSON document: {"statement", "verification", "generated", "rows_in",
// "names", "summary", "files_per_day", "rows": [...]}, the rows streamed.
type jsonFormat struct {
	w     *bufio.Writer
	first bool
}

func (f *jsonFormat) header(h *header) error {
	head, err := json.Marshal(struct {
		Statement    string         `json:"statement"` // the verification in words, first
		Verification Verification   `json:"verification"`
		Generated    string         `json:"generated"`
		RowsIn       string         `json:"rows_in"`
		Names        string         `json:"names"`
		Summary      []*UserSummary `json:"summary"`
		Days         []Day          `json:"files_per_day"`
	}{h.V.Statement(), h.V, h.Generated.Format(time.RFC3339), h.Filter, h.Names, orEmpty(h.Summary), orEmpty(h.Days)})
	if err != nil {
		return err
	}
	f.w.Write(head[:len(head)-1]) // open: the rows follow
	_, err = f.w.WriteString(`,"rows":[`)
	f.first = true
	return err
}

func (f *jsonFormat) row(r *Row) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if !f.first {
		f.w.WriteByte(',')
	}
	f.first = false
	f.w.WriteByte('\n')
	_, err = f.w.Write(b)
	return err
}

func (f *jsonFormat) end() error {
	_, err := f.w.WriteString("\n]}\n")
	return err
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
