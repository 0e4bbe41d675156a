package ops

import (
	"context"
	"testing"
	"time"
)

// TestSweeper_SweepsAtStartAndPeriodically: the sweeper aborts an orphan at
// start, another made later at a later tick, and Stop waits for it.
func TestSweeper_SweepsAtStartAndPeriodically(t *testing.T) {
	e := newEnv(t)
	createUpload(t, e, "home/first.bin")
	s := StartSweeper(context.Background(), e.fs, testLog(), func() []Prefix { return []Prefix{{Bucket: e.s3.Bucket, Prefix: "home/"}} }, 0, 100*time.Millisecond)
	defer s.Stop()
	waitGone := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			keys := uploadsInProgress(t, e)
			if len(keys) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got uploads %v after 10s; want %s aborted", keys, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitGone("the orphan found at start")
	time.Sleep(1100 * time.Millisecond) // a new upload is initiated a second later than the sweeps' clock may show
	createUpload(t, e, "home/later.bin")
	waitGone("the orphan made later")
	s.Stop()
	createUpload(t, e, "home/after-stop.bin")
	time.Sleep(300 * time.Millisecond)
	if keys := uploadsInProgress(t, e); len(keys) != 1 {
		t.Errorf("got uploads %v after Stop; want the new one kept (no sweep after Stop)", keys)
	}
}
