package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// lease is the object objfmt.LifecycleLease at a folder's prefix: which
// gateway sweeps the folder until when, and the watermark of its notices.
// It is taken and renewed with conditional writes (If-None-Match for a
// new one, If-Match on the ETag read), so of two gateways racing for it one
// wins and the other leaves the folder alone until the lease expires.
type lease struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	// Notified: every file whose not_picked_up_after ended at or before
	// it has had its not_picked_up recorded.
	Notified time.Time `json:"notified"`

	etag string // of the object read or written; "" while none exists
}

// ttl is how long a lease holds without renewal: long enough for a sweep
// of a large folder, short enough that another gateway takes over within
// minutes of a crash.
func ttl(p Place) time.Duration { return max(3*p.Interval(), time.Minute) }

// take reads p's lease and takes it for this gateway if it is free (none,
// expired, or this gateway's own); nil, nil when another gateway holds it
// or won the race for it.
func (s *Sweeper) take(ctx context.Context, p Place) (*lease, error) {
	l, err := s.read(ctx, p)
	if err != nil {
		return nil, err
	}
	if l.Holder != s.cfg.Holder && l.etag != "" && s.cfg.Now().Before(l.Expires) {
		return nil, nil
	}
	if err := s.put(ctx, p, l); store.IsPrecondition(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return l, nil
}

// read returns p's lease; an empty one when there is none. An object that
// does not decode (written by hand, cut short) counts as expired, with no
// watermark: its notices may be recorded again, never lost.
func (s *Sweeper) read(ctx context.Context, p Place) (*lease, error) {
	key := p.Prefix + objfmt.LifecycleLease
	out, err := s.cfg.Objects.Get(ctx, store.GetRequest{Bucket: p.Bucket, Key: key})
	if store.IsNotFound(err) {
		return &lease{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get lifecycle lease of %s: %w", p.Folder, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read lifecycle lease of %s: %w", p.Folder, err)
	}
	var l lease
	if err := json.Unmarshal(b, &l); err != nil {
		s.cfg.Log.LogAttrs(ctx, slog.LevelWarn, "lifecycle lease unreadable: taken over", slog.String("bucket", p.Bucket), slog.String("folder", p.Folder))
		l = lease{}
	}
	l.etag = out.ETag
	return &l, nil
}

// put writes l as this gateway's, expiring a ttl from now, conditional on
// the object l was read from; IsPrecondition when another gateway wrote
// it meanwhile.
func (s *Sweeper) put(ctx context.Context, p Place, l *lease) error {
	l.Holder, l.Expires = s.cfg.Holder, s.cfg.Now().Add(ttl(p))
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	w, err := s.cfg.Objects.Put(ctx, store.PutRequest{Bucket: p.Bucket, Key: p.Prefix + objfmt.LifecycleLease, Body: b,
		ContentType: "application/json", IfNoneMatch: l.etag == "", IfMatch: l.etag})
	if err != nil {
		return fmt.Errorf("put lifecycle lease of %s: %w", p.Folder, err)
	}
	l.etag = w.ETag
	return nil
}
