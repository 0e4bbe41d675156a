package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cursor is what a sink has been given: every event up to the record at
// Seq, whose line has id ID, and the sessions still open there, so that an
// event after a restart still names its key and address. It is kept in a
// file beside the trail (cursorPath), replaced whole after each delivered
// event.
type cursor struct {
	Sink     string   `json:"sink"` // the sink's Name, for the admin who reads the file
	Seq      uint64   `json:"seq"`
	ID       string   `json:"id,omitempty"`
	Sessions sessions `json:"sessions"`
}

// cursorPath is the cursor file of the sink named name beside the trail
// file live: audit.jsonl.events-webhook-hooks.example.org-1a2b3c4d.cursor.
// The hash tells apart two sinks whose names read alike once cleaned.
func cursorPath(live, name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 48 {
			break
		}
	}
	sum := sha256.Sum256([]byte(name))
	slug := strings.Trim(b.String(), "-") + "-" + hex.EncodeToString(sum[:4])
	return filepath.Join(filepath.Dir(live), filepath.Base(live)+".events-"+slug+".cursor")
}

// loadCursor reads the cursor at path; ok is false when there is none yet.
func loadCursor(path string) (c cursor, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cursor{}, false, nil
	}
	if err != nil {
		return cursor{}, false, fmt.Errorf("read events cursor: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return cursor{}, false, fmt.Errorf("read events cursor %s: %w", filepath.Base(path), err)
	}
	if c.Sessions == nil {
		c.Sessions = sessions{}
	}
	return c, true, nil
}

// save replaces the cursor file at path with c: written aside, then
// renamed, so a reader sees the old cursor or the new one. It is not
// synced: after a power loss the old cursor may come back, and its events
// are delivered again, which at-least-once allows; none is skipped.
func (c cursor) save(path string) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write events cursor: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write events cursor: %w", err)
	}
	return nil
}
