package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzVerify: Verify never panics on hostile input, and every failure it
// reports is a break in the chain with a position.
func FuzzVerify(f *testing.F) {
	var buf bytes.Buffer
	l, err := Open(Config{Stdout: &buf, Now: fixedNow})
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range []string{EventServerStart, EventMkdir, EventCheckpoint, EventServerStop} {
		l.Write(Record{Event: e, Path: "/p"})
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	f.Add(buf.String(), lines[2])
	f.Add(strings.Join(lines[1:], ""), "")
	f.Add(lines[0]+`{"seq":2,"ev`+"\n"+strings.Join(lines[1:], ""), lines[3])
	f.Add("{}\n[1]\n\n", "{\"seq\":9}")
	f.Fuzz(func(t *testing.T, trail, checkpoint string) {
		opts := VerifyOptions{HMACKey: []byte("k")}
		if checkpoint != "" {
			opts.Checkpoints = []Checkpoint{{Name: "cp", Line: []byte(checkpoint)}}
		}
		_, err := Verify([]VerifyInput{{Name: "a", R: strings.NewReader(trail)}}, opts)
		var ve *VerifyError
		if err != nil && (!errors.As(err, &ve) || !errors.Is(err, ErrChainBroken)) {
			t.Errorf("Verify = %v; want a *VerifyError", err)
		}
	})
}

// FuzzDecodeRecord: decodeRecord gives exactly what json.Unmarshal gives,
// error or record, for any line: its fast path only ever agrees.
func FuzzDecodeRecord(f *testing.F) {
	var buf bytes.Buffer
	l, err := Open(Config{Stdout: &buf, Now: fixedNow, HMACKey: []byte("k")})
	if err != nil {
		f.Fatal(err)
	}
	s := l.Session("s1").WithUser("é\"u\\")
	s.Record(Record{Event: EventClose, Mode: "write", Path: "/a \"b\"\\c", Bytes: Int(12), ETag: `"e"`, DurMS: Int(0), SHA256: "ab"})
	serial := uint64(7)
	s.Record(Record{Event: EventAuth, CertID: "id", CertSerial: &serial, Error: "x\ny<&>", Count: Int(3)})
	l.Write(Record{Event: EventReload, Changes: []string{"a"}, Expires: &Time{fixedNow()}})
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		f.Add(line)
	}
	for _, s := range []string{`{}`, `{"seq":01}`, `{"seq":1.0}`, `{"seq":-1}`, `{"seq":1e3}`, `{"Seq":1}`, `{"seq":1,"seq":2}`,
		`{"user":"\u0041"}`, `{"user":"a\/b"}`, "{\"user\":\"\xff\"}", `{"time":"2026-01-01T00:00:00Z"}`, `{"seq":null}`,
		`{"seq":123456789012345678901}`, `{"bytes":1} `, ` {"bytes":1}`, `{"user":1}`, `{"seq":"1"}`, `{"x":1}`, `{"seq":1,}`,
		`{"time":"2026-02-29T00:00:00.000Z"}`, `{"time":"2024-02-29T23:59:59.999Z"}`, `{"time":"2026-13-01T00:00:00.000Z"}`,
		`{"time":"2026-04-31T00:00:00.000Z"}`, `{"time":"2026-01-01T24:00:00.000Z"}`, `{"time":"2026-01-01T00:00:60.000Z"}`,
		`{"time":"+026-01-01T00:00:00.000Z"}`, `{"time":"0000-01-01T00:00:00.000Z"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var want, got Record
		wantErr := json.Unmarshal([]byte(line), &want)
		gotErr := decodeRecord([]byte(line), &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("decodeRecord(%q) error = %v; json.Unmarshal's = %v", line, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeRecord(%q) = %+v; json.Unmarshal gives %+v", line, got, want)
		}
	})
}
