package audit

import (
	"bytes"
	"errors"
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
