package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Shipper stores closed segments of the audit trail off the machine, so a
// local attacker cannot rewrite history that has left it (ops.AuditShipper
// is the S3 one). Ship must be idempotent: after a lost answer it is called
// again with the same name and bytes.
type Shipper interface {
	Ship(ctx context.Context, name string, segment []byte) error
}

// Retry delays of a failed ship, and the one bounded attempt Close makes.
const (
	shipRetryMin = time.Second
	shipRetryMax = time.Minute
	closeShipMax = 10 * time.Second
	// shipAttemptMax bounds one attempt, so a store that hangs is retried
	// (and denies) like one that refuses.
	shipAttemptMax = time.Minute
)

// shippedState returns the name recorded in <File>.shipped: the last
// segment that was shipped; "" when none was.
func shippedState(file string) (string, error) {
	b, err := os.ReadFile(file + ".shipped")
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// unshipped lists the closed segments after the last shipped one, oldest
// first: what a restarted server still has to ship.
func unshipped(file string) ([]string, error) {
	last, err := shippedState(file)
	if err != nil {
		return nil, fmt.Errorf("read audit ship state: %w", err)
	}
	segs, err := listSegments(file)
	if err != nil {
		return nil, fmt.Errorf("list audit segments: %w", err)
	}
	var out []string
	for _, s := range segs {
		if s > last {
			out = append(out, s)
		}
	}
	return out, nil
}

// shipLoop ships pending segments in order until Close, retrying a failed
// one with backoff. While a segment waits after a failure, Err denies.
func (l *Log) shipLoop(ctx context.Context) {
	defer l.wg.Done()
	retryMin := l.cfg.shipRetry
	if retryMin == 0 {
		retryMin = shipRetryMin
	}
	delay := retryMin
	for {
		l.mu.Lock()
		name := ""
		if len(l.pending) > 0 {
			name = l.pending[0]
		}
		l.mu.Unlock()
		if name == "" {
			select {
			case <-l.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		err := l.shipOne(ctx, name)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			delay = retryMin
			continue
		}
		l.mu.Lock()
		l.shipErr = err
		l.mu.Unlock()
		l.cfg.Logger.Error("audit segment not shipped: new file operations are refused until it is",
			"segment", name, "err", err.Error(), "retry_in", delay.String(), "deny", !l.cfg.FailOpen)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		delay = min(delay*2, shipRetryMax)
	}
}

// shipOne ships the oldest pending segment, name, records it in
// <File>.shipped and takes it off the queue.
func (l *Log) shipOne(ctx context.Context, name string) error {
	data, err := os.ReadFile(filepath.Join(filepath.Dir(l.cfg.File), name))
	if err != nil {
		return fmt.Errorf("read audit segment %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, shipAttemptMax)
	defer cancel()
	if err := l.cfg.Ship.Ship(ctx, name, data); err != nil {
		return fmt.Errorf("ship audit segment %s: %w", name, err)
	}
	if err := writeAtomic(l.cfg.File+".shipped", []byte(name+"\n")); err != nil {
		return fmt.Errorf("record shipped audit segment %s: %w", name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) > 0 && l.pending[0] == name {
		l.pending = l.pending[1:]
	}
	if l.shipErr != nil {
		l.shipErr = nil
		l.cfg.Logger.Warn("audit segments ship again", "segment", name, "waiting", len(l.pending))
	}
	return nil
}

// shipRest makes Close's one bounded attempt to ship what is pending.
func (l *Log) shipRest() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeShipMax)
	defer cancel()
	for {
		l.mu.Lock()
		if len(l.pending) == 0 {
			l.mu.Unlock()
			return nil
		}
		name, left := l.pending[0], len(l.pending)
		l.mu.Unlock()
		if err := l.shipOne(ctx, name); err != nil {
			l.cfg.Logger.Error("audit segments left unshipped at close: the next start ships them",
				"segment", name, "waiting", left, "err", err.Error())
			return err
		}
	}
}
