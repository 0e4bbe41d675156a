package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// segmentDigits is the width of the first seq in a segment's name, so that
// names sort in the order of the trail.
const segmentDigits = 12

// segmentName is the name a closed segment of the audit file gets:
// audit.jsonl whose first record has seq 1 becomes audit-000000000001.jsonl.
func segmentName(file string, firstSeq uint64) string {
	base := filepath.Base(file)
	ext := filepath.Ext(base)
	return fmt.Sprintf("%s-%0*d%s", strings.TrimSuffix(base, ext), segmentDigits, firstSeq, ext)
}

// isSegment says whether name is a closed segment of file.
func isSegment(file, name string) bool {
	base := filepath.Base(file)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext) + "-"
	if !strings.HasPrefix(name, stem) || !strings.HasSuffix(name, ext) || len(name) != len(stem)+segmentDigits+len(ext) {
		return false
	}
	digits := name[len(stem) : len(stem)+segmentDigits]
	return strings.Trim(digits, "0123456789") == ""
}

// listSegments returns the names of file's closed segments, oldest first.
func listSegments(file string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Dir(file))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && isSegment(file, e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// segmentEndRoom is kept free below RotateSize for the segment_end line
// (about 250 bytes with a MAC), so a segment never exceeds RotateSize unless
// one record alone does.
const segmentEndRoom = 320

// rotateDue says whether the current file must become a segment before a
// line of n bytes is added: it would grow past RotateSize, or it has been
// open for RotateEvery. A file holding nothing but its segment_start is
// never rotated, so an idle trail does not produce empty segments; nor is
// one ending in a torn line before the next record, which verify accepts
// only right before a server_start.
func (l *Log) rotateDue(n int) bool {
	if l.file == nil || !l.dirty || l.afterTorn {
		return false
	}
	if l.cfg.RotateSize > 0 && l.size+int64(n)+segmentEndRoom > l.cfg.RotateSize {
		return true
	}
	return l.cfg.RotateEvery > 0 && l.cfg.Now().Sub(l.opened) >= l.cfg.RotateEvery
}

// rotate ends the current file with a segment_end record, makes it durable,
// renames it to its segment name and queues it for shipping. With reopen, it
// starts a fresh file whose first record, segment_start, chains to the
// segment_end. Called with l.mu held.
func (l *Log) rotate(reopen bool) error {
	end := l.encode(Record{Event: EventSegmentEnd, Result: ResultOK})
	if err := l.commit(end, EventSegmentEnd); err != nil {
		return err
	}
	if err := l.file.Sync(); err != nil {
		return fmt.Errorf("sync audit file: %w", err)
	}
	if err := l.writeSidecar(end); err != nil {
		return err
	}
	name := segmentName(l.cfg.File, l.firstSeq)
	dst := filepath.Join(filepath.Dir(l.cfg.File), name)
	if _, err := os.Lstat(dst); err == nil {
		// Never overwrite a segment; keep appending to the current file.
		return fmt.Errorf("rotate audit file: %s exists already", name)
	}
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("close audit file: %w", err)
	}
	l.file = nil
	if err := os.Rename(l.cfg.File, dst); err != nil {
		l.reopen()
		return fmt.Errorf("rotate audit file: %w", err)
	}
	if err := syncDir(filepath.Dir(l.cfg.File)); err != nil {
		l.cfg.Logger.Warn("audit directory not synced after rotation", "err", err.Error())
	}
	if l.cfg.Ship != nil {
		l.pending = append(l.pending, name)
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	if !reopen {
		return nil
	}
	if err := l.reopen(); err != nil {
		return err
	}
	return l.commit(l.encode(Record{Event: EventSegmentStart, Result: ResultOK}), EventSegmentStart)
}

// reopen opens the current file again after it was closed for rotation.
// Called with l.mu held.
func (l *Log) reopen() error {
	f, st, err := openFile(l.cfg.File)
	if err != nil {
		return err
	}
	l.file, l.size, l.firstSeq = f, st.size, st.firstSeq
	l.dirty = st.size > 0
	l.opened = l.cfg.Now()
	return nil
}

// checkpoint writes a checkpoint record, if records were written since the
// last one, and makes it the sidecar. Called with l.mu held.
func (l *Log) checkpoint() error {
	if l.sinceCheckpoint == 0 || l.file == nil {
		return nil
	}
	line := l.encode(Record{Event: EventCheckpoint, Result: ResultOK})
	if err := l.commit(line, EventCheckpoint); err != nil {
		return err
	}
	if err := l.file.Sync(); err != nil {
		return fmt.Errorf("sync audit file: %w", err)
	}
	return l.writeSidecar(line)
}

// writeSidecar replaces <File>.checkpoint with line. The line must already
// be durable in the file: a sidecar ahead of the file would read as a
// truncated trail.
func (l *Log) writeSidecar(line []byte) error {
	l.sinceCheckpoint = 0
	l.lastCheckpoint = l.cfg.Now()
	data := append(append([]byte(nil), line...), '\n')
	if err := writeAtomic(l.cfg.File+".checkpoint", data); err != nil {
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	return nil
}

// tick runs the timed duties: rotation by age, then a checkpoint when one
// is due.
func (l *Log) tick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.file == nil {
		return
	}
	if l.cfg.RotateEvery > 0 && l.rotateDue(0) {
		if err := l.noteResult(l.rotate(true)); err != nil {
			return
		}
	}
	if l.cfg.CheckpointEvery > 0 && l.sinceCheckpoint > 0 && l.cfg.Now().Sub(l.lastCheckpoint) >= l.cfg.CheckpointEvery {
		l.noteResult(l.checkpoint())
	}
}

// tickLoop calls tick until Close. Its period is short next to the
// intervals, so rotation and checkpoints happen close to on time.
func (l *Log) tickLoop(period time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.tick()
		case <-l.stop:
			return
		}
	}
}

// tickPeriod is how often tickLoop wakes: a second, or less when an
// interval is shorter.
func tickPeriod(cfg Config) time.Duration {
	p := time.Second
	for _, d := range []time.Duration{cfg.RotateEvery, cfg.CheckpointEvery} {
		if d > 0 {
			p = min(p, d/2+1)
		}
	}
	return p
}

// writeAtomic replaces path with data, owner-only: a reader sees the old
// content or the new, never a part.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
