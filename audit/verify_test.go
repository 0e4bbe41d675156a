package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// trail writes n records through a Log (plus the checkpoint Close leaves)
// and returns the lines of the file and the sidecar's line.
func trail(t *testing.T, key []byte, n int) (lines []string, checkpoint string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeMkdirs(t, Config{File: path, HMACKey: key, Now: fixedNow}, n)
	data, _ := os.ReadFile(path)
	cp, err := os.ReadFile(path + ".checkpoint")
	if err != nil {
		t.Fatalf("no checkpoint sidecar after Close: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), string(cp)
}

func join(lines []string) string { return strings.Join(lines, "\n") + "\n" }

func TestVerify_Tampering(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	plain, plainCP := trail(t, nil, 10)
	keyed, keyedCP := trail(t, key, 10)
	swap := func(l []string, i, j int) []string { l = slices.Clone(l); l[i], l[j] = l[j], l[i]; return l }
	tests := []struct {
		name    string
		key     []byte
		lines   []string
		cp      string // sidecar content; "" = none
		wantErr string // substring of "FILE:LINE: seq N: problem"; "" = verifies
		note    string // substring of a note
	}{
		{name: "intact", lines: plain, cp: plainCP},
		{name: "intact-with-mac", key: key, lines: keyed, cp: keyedCP},
		{name: "edited", lines: slices.Concat(plain[:3], []string{strings.Replace(plain[3], "/d4", "/x4", 1)}, plain[4:]),
			wantErr: "audit.jsonl:5: seq 5: prev is not the SHA-256 of the line before (audit.jsonl:4, seq 4)"},
		{name: "edited-with-mac", key: key, lines: slices.Concat(keyed[:3], []string{strings.Replace(keyed[3], "/d4", "/x4", 1)}, keyed[4:]),
			wantErr: "audit.jsonl:4: seq 4: MAC mismatch"},
		{name: "mac-missing", key: key, lines: slices.Concat(plain[:1], keyed[1:]), wantErr: "audit.jsonl:1: seq 1: no MAC"},
		{name: "inserted", lines: slices.Concat(plain[:3], plain[2:3], plain[3:]),
			wantErr: "audit.jsonl:4: seq 3: follows seq 3: a record was inserted"},
		{name: "removed", lines: slices.Concat(plain[:4], plain[5:]),
			wantErr: "audit.jsonl:5: seq 6: follows seq 4: record 5 is missing"},
		{name: "removed-several", lines: slices.Concat(plain[:4], plain[7:]),
			wantErr: "audit.jsonl:5: seq 8: follows seq 4: records 5..7 are missing"},
		{name: "reordered", lines: swap(plain, 4, 5),
			wantErr: "audit.jsonl:5: seq 6: follows seq 4: record 5 is missing (removed or reordered)"},
		{name: "first-record-removed", lines: plain[1:], note: "records before seq 2 were not given"},
		{name: "first-prev-forged", lines: slices.Concat([]string{strings.Replace(plain[0], `"prev":"0`, `"prev":"1`, 1)}, plain[1:]),
			wantErr: "audit.jsonl:1: seq 1: the first record of a trail must have prev = 64 zeros"},
		{name: "tail-truncated-past-checkpoint", lines: plain[:6], cp: plainCP,
			wantErr: "audit.jsonl:6: seq 6: log ends at seq 6 but checkpoint seq 10 was written at 2026-11-24T16:15:00.123Z (audit.jsonl.checkpoint): records after 6 were removed"},
		{name: "tail-truncated-no-checkpoint", lines: plain[:6]},
		{name: "checkpoint-differs", lines: plain, cp: strings.Replace(plainCP, "/d10", "/x10", 1),
			wantErr: "audit.jsonl:10: seq 10: differs from the checkpoint in audit.jsonl.checkpoint"},
		{name: "checkpoint-not-a-record", lines: plain, cp: "hello\n", wantErr: "audit.jsonl.checkpoint: checkpoint is not an audit record"},
		{name: "torn-line-mid-trail", lines: slices.Concat(plain[:4], []string{plain[4][:30]}, plain[4:]),
			wantErr: "audit.jsonl:5: seq 5: not an audit record, and neither the last line of its file nor the line before a server_start"},
		{name: "free-text-and-a-fake-record", lines: slices.Concat(plain[:4], freeText(40), []string{`{"seq":5,"event":"close","user":"x"`}, plain[4:]),
			wantErr: "audit.jsonl:5: seq 5: not an audit record, nor is the line after it"},
		{name: "fake-record-mid-trail", lines: slices.Concat(plain[:4], []string{`{"seq":5,"event":"remove","path":"/d4"} (x)`}, plain[4:]),
			wantErr: "audit.jsonl:5: seq 5: not an audit record, and neither the last line of its file"},
		{name: "torn-last-line", lines: slices.Concat(plain, []string{plain[9][:20]}), note: "audit.jsonl:11: torn line"},
		{name: "torn-line-hides-a-removal", lines: slices.Concat(plain[:4], []string{plain[4][:30]}, plain[5:]),
			wantErr: "audit.jsonl:5: seq 5: not an audit record, and the record after it (audit.jsonl:6, seq 6) does not chain"},
		{name: "json-not-a-record", lines: slices.Concat(plain[:4], []string{`[1,2]`}, plain[4:]),
			wantErr: "audit.jsonl:5: seq 5: not an audit record"},
		{name: "empty", lines: nil, wantErr: "audit.jsonl: no audit records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := ""
			if tt.lines != nil {
				text = join(tt.lines)
			}
			opts := VerifyOptions{HMACKey: tt.key}
			if tt.cp != "" {
				opts.Checkpoints = []Checkpoint{{Name: "audit.jsonl.checkpoint", Line: []byte(tt.cp)}}
			}
			rep, err := Verify([]VerifyInput{{Name: "audit.jsonl", R: strings.NewReader(text)}}, opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify = %v; want nil", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrChainBroken) {
					t.Fatalf("Verify = %v; want ErrChainBroken with %q", err, tt.wantErr)
				}
				return
			}
			if tt.note != "" && !strings.Contains(strings.Join(rep.Notes, "\n"), tt.note) {
				t.Errorf("notes %q; want one with %q", rep.Notes, tt.note)
			}
			if tt.note == "" && len(rep.Notes) > 0 {
				t.Errorf("notes %q; want none", rep.Notes)
			}
		})
	}
}

func freeText(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("operator note %d: nothing to see here", i)
	}
	return out
}

// TestVerify_TornLineAtRestart: a crash tears the line being written; the
// restarted server ends it and writes its server_start right after it, even
// when the file is due to rotate, and verify takes the torn line for what it
// is. A torn line at the end of a segment is accepted too.
func TestVerify_TornLineAtRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	cfg := Config{File: path, Now: fixedNow, RotateSize: 1500}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Record{Event: EventServerStart})
	for i := range 3 {
		l.Write(Record{Event: EventMkdir, Path: fmt.Sprintf("/d%d", i)})
	}
	l.file.Close() // the crash: no Close, and a line half written
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-11-24T16:15:00.123Z","seq":5,"event":"mkdir","pa` + strings.Repeat("x", 1000))
	f.Close()
	l, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(Record{Event: EventServerStart}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		l.Write(Record{Event: EventMkdir, Path: fmt.Sprintf("/e%d", i)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	var in []VerifyInput
	for _, name := range files {
		b, _ := os.ReadFile(name)
		in = append(in, VerifyInput{Name: filepath.Base(name), R: bytes.NewReader(b)})
	}
	rep, err := Verify(in, VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify of a trail torn by a crash = %v; want it verified", err)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "torn line (a crash mid-write), not part of the chain: the server_start of a new run follows it and chains past it") {
		t.Errorf("notes %q; want the torn line reported", rep.Notes)
	}
	if len(files) < 2 {
		t.Errorf("%d files; want the trail rotated after the server_start", len(files))
	}

	// The presign trail: each run writes one presign record, so a run that
	// crashed mid-write is followed by the next run's presign.
	presign := filepath.Join(t.TempDir(), "presign.jsonl")
	for i := range 3 {
		pl, err := Open(Config{File: presign, Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		pl.Write(Record{Event: EventPresign, Path: fmt.Sprintf("/f%d", i)})
		if i == 1 {
			pl.file.WriteString(`{"time":"2026-11-24T16:15:00.123Z","seq":3,"event":"pres`)
			pl.file.Close()
			continue
		}
		pl.Close()
	}
	b, _ := os.ReadFile(presign)
	rep, err = Verify([]VerifyInput{{Name: "presign.jsonl", R: bytes.NewReader(b)}}, VerifyOptions{})
	if err != nil || !strings.Contains(strings.Join(rep.Notes, "\n"), "presign.jsonl:3: torn line (a crash mid-write), not part of the chain: the presign of a new run follows it") {
		t.Errorf("Verify of a presign trail torn by a crash = %v, %v; want verified with a note", rep, err)
	}

	// A torn line at the end of a closed segment: the next file starts
	// with its segment_start.
	segDir, names := segments(t, 20)
	in = nil
	torn := false
	for _, name := range names {
		b, _ := os.ReadFile(filepath.Join(segDir, name))
		if name != "audit.jsonl" && !torn {
			b, torn = append(b, `{"torn`...), true
		}
		in = append(in, VerifyInput{Name: name, R: bytes.NewReader(b)})
	}
	if rep, err := Verify(in, VerifyOptions{}); err != nil || !strings.Contains(strings.Join(rep.Notes, "\n"), "the file ends there") {
		t.Errorf("Verify with a torn last line in a segment = %v, %v; want verified with a note", rep, err)
	}
}

// segments writes n records through a Log that rotates every few records,
// and returns the files of the trail by name.
func segments(t *testing.T, n int) (dir string, names []string) {
	t.Helper()
	dir = t.TempDir()
	writeMkdirs(t, Config{File: filepath.Join(dir, "audit.jsonl"), Now: fixedNow, RotateSize: 600}, n)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jsonl") {
			names = append(names, e.Name())
		}
	}
	return dir, names
}

func TestVerify_FilesInAnyOrder(t *testing.T) {
	dir, names := segments(t, 20)
	if len(names) < 4 {
		t.Fatalf("%d files %v; want at least 4 (rotation by size)", len(names), names)
	}
	read := func(names []string) []VerifyInput {
		var in []VerifyInput
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, VerifyInput{Name: n, R: bytes.NewReader(b)})
		}
		return in
	}
	// The live file sorts first by name; Verify must order by seq.
	rev := slices.Clone(names)
	slices.Reverse(rev)
	rep, err := Verify(read(rev), VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify = %v; want nil", err)
	}
	if rep.Files != len(names) || rep.FirstSeq != 1 || rep.LastSeq != uint64(rep.Records) {
		t.Errorf("report %+v; want %d files, seq 1..records", rep, len(names))
	}
	// A segment missing from the middle breaks the chain at the next file.
	missing := slices.Delete(slices.Clone(names), 1, 2)
	_, err = Verify(read(missing), VerifyOptions{})
	if err == nil || !strings.Contains(err.Error(), names[2]+":1: seq") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Verify without %s = %v; want records missing at %s:1", names[1], err, names[2])
	}
}

// writeMkdirs writes n mkdir records to a trail opened with cfg, and closes it.
func writeMkdirs(t *testing.T, cfg Config, n int) {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Write(Record{Event: EventMkdir, Path: fmt.Sprintf("/d%d", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
