package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3sftpd/s3sftpd/events/sns"
)

// Sink delivers events to one receiver. Deliver gets the event's JSON as
// body, with its id, type and user for headers or attributes; an error
// means "not delivered, try again" (after a backoff). It must be safe to
// call again with the same event: delivery is at least once.
type Sink interface {
	Name() string // names the receiver in logs, metrics and the cursor file; no secret
	Deliver(ctx context.Context, id, typ, user string, body []byte) error
}

// SinkConfig is one [[events.webhook]] or [[events.sns]] table, as plain
// values (config checked them).
type SinkConfig struct {
	Kind   string   // "webhook" or "sns"
	Types  []string // the types it receives; empty: every type
	URL    string   // webhook
	Secret []byte   // webhook: the HMAC-SHA256 key of the signature
	// SNS: the topic, "" or an SNS-compatible server's URL, and its region.
	TopicARN, Endpoint, Region string
}

// Config says where the trail is and where its events go.
type Config struct {
	Trail  string // the audit trail's live file (audit.file); the cursors go beside it
	Sinks  []SinkConfig
	Logger *slog.Logger
	Now    func() time.Time // tests; nil = time.Now

	// Tests shorten these; zero takes the documented schedule.
	RetryMin, RetryMax time.Duration // backoff after a failed delivery: 1s doubling to 30s
	Poll               time.Duration // how often an idle sink looks for new records without a wake-up: 500ms
}

// The delivery schedule (docs/events.md).
const (
	retryMin       = time.Second
	retryMax       = 30 * time.Second
	pollEvery      = 500 * time.Millisecond
	attemptTimeout = 30 * time.Second // one Deliver call; the webhook's own request timeout is shorter
	failLogEvery   = time.Minute      // a failing sink logs once at first, then at most this often
	idleSaveEvery  = 1000             // records passed without an event before the cursor is saved anyway
	// After a wake-up the trail is looked at again this many times, after
	// 1, 4, 16 and 64 ms, before waiting for the next: Observe sees a record
	// just before it is written.
	settleLooks = 4
)

// Pipeline runs one delivery loop per sink. Wake may be called before
// Start and after Stop.
type Pipeline struct {
	cfg    Config
	routes atomic.Pointer[[]*route] // set by Start; Wake reads it from any goroutine
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// route is one sink, its reader of the trail and its cursor.
type route struct {
	sink  Sink
	types []string
	path  string // the cursor file
	wake  chan struct{}

	rd  reader // used only by the loop
	cur cursor // likewise

	mu        sync.Mutex // guards the figures below, read by Stats
	done      uint64     // seq the cursor is at
	pending   time.Time  // time of the event being delivered; zero when none
	delivered uint64
	failed    uint64
	lost      uint64
}

// New makes the pipeline of cfg; Start starts it.
func New(cfg Config) *Pipeline {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.RetryMin = cmpOr(cfg.RetryMin, retryMin)
	cfg.RetryMax = cmpOr(cfg.RetryMax, retryMax)
	cfg.Poll = cmpOr(cfg.Poll, pollEvery)
	return &Pipeline{cfg: cfg}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Start makes every sink, reads or creates its cursor, and starts its
// loop. A sink without a cursor starts at the trail's end: it receives
// what happens from its first start on. Call it after the trail is open.
func (p *Pipeline) Start() error {
	if len(p.cfg.Sinks) == 0 {
		return nil
	}
	if p.cfg.Trail == "" {
		return errors.New("events need the audit trail's file: set [audit] file")
	}
	var routes []*route
	for _, sc := range p.cfg.Sinks {
		s, err := newSink(sc)
		if err != nil {
			return err
		}
		routes = append(routes, &route{sink: s, types: sc.Types, wake: make(chan struct{}, 1)})
	}
	return p.start(routes)
}

// newSink makes the sink sc configures.
func newSink(sc SinkConfig) (Sink, error) {
	switch sc.Kind {
	case "webhook":
		return NewWebhook(sc.URL, sc.Secret)
	case "sns":
		s, err := sns.New(context.Background(), sns.Config{TopicARN: sc.TopicARN, Endpoint: sc.Endpoint, Region: sc.Region})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("events: unknown sink kind %q", sc.Kind)
}

// start opens the cursors of routes and starts their loops.
func (p *Pipeline) start(routes []*route) error {
	paths := map[string]bool{}
	for _, rt := range routes {
		rt.path = cursorPath(p.cfg.Trail, rt.sink.Name())
		if paths[rt.path] {
			return fmt.Errorf("events: two sinks are named %q: they would share one cursor", rt.sink.Name())
		}
		paths[rt.path] = true
		c, ok, err := loadCursor(rt.path)
		if err != nil {
			return err
		}
		if !ok {
			c = cursor{Sink: rt.sink.Name(), Seq: headSeq(p.cfg.Trail), Sessions: sessions{}}
			if err := c.save(rt.path); err != nil {
				return err
			}
			p.cfg.Logger.Info("events: a new sink starts at the end of the audit trail", "sink", c.Sink, "seq", c.Seq)
		}
		if head := headSeq(p.cfg.Trail); head != 0 && c.Seq > head { // 0: unreadable, never a reason to start over
			p.cfg.Logger.Warn("events: the cursor is past the end of the audit trail (a new trail?): delivering it from its start",
				"sink", c.Sink, "cursor_seq", c.Seq, "trail_seq", head)
			c.Seq, c.ID, c.Sessions = 0, "", sessions{}
		}
		rt.cur, rt.done = c, c.Seq
		rt.rd = reader{live: p.cfg.Trail, want: c.Seq + 1}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.routes.Store(&routes)
	p.cancel = cancel
	for _, rt := range routes {
		p.wg.Go(func() { p.run(ctx, rt) })
	}
	return nil
}

// Stop ends every loop and waits for them. An event being delivered is
// abandoned undelivered: the next start sends it again.
func (p *Pipeline) Stop() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
}

// Wake tells every loop a record was written. It never blocks: it is
// audit.Config.Observe's, called on every record. The loops also poll, so
// a lost wake-up only delays.
func (p *Pipeline) Wake() {
	for _, rt := range p.list() {
		select {
		case rt.wake <- struct{}{}:
		default:
		}
	}
}

// list is the running routes; none before Start.
func (p *Pipeline) list() []*route {
	if r := p.routes.Load(); r != nil {
		return *r
	}
	return nil
}

// Stats is where one sink stands, for the metrics.
type Stats struct {
	Sink      string
	Backlog   uint64        // trail records after the cursor
	Lag       time.Duration // age of the oldest event not yet delivered; 0 when none waits
	Delivered uint64        // events delivered since start
	Failed    uint64        // failed delivery attempts since start
	Lost      uint64        // records found missing from the trail (segments deleted while the sink was behind)
}

// Stats returns where every sink stands.
func (p *Pipeline) Stats() []Stats {
	routes := p.list()
	if len(routes) == 0 {
		return nil
	}
	head := headSeq(p.cfg.Trail)
	out := make([]Stats, 0, len(routes))
	for _, rt := range routes {
		rt.mu.Lock()
		s := Stats{Sink: rt.sink.Name(), Delivered: rt.delivered, Failed: rt.failed, Lost: rt.lost}
		if head > rt.done {
			s.Backlog = head - rt.done
		}
		if !rt.pending.IsZero() {
			s.Lag = max(0, p.cfg.Now().Sub(rt.pending))
		}
		rt.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// run delivers rt's events in trail order until ctx ends.
func (p *Pipeline) run(ctx context.Context, rt *route) {
	log := p.cfg.Logger.With("sink", rt.sink.Name())
	readFailed, passed, settle := false, 0, settleLooks
	for ctx.Err() == nil {
		r, err := rt.rd.next()
		p.noteLost(rt, log)
		if err != nil {
			if !readFailed {
				log.Error("events: the audit trail cannot be read; retrying", "err", err.Error())
			}
			readFailed = true
			p.wait(ctx, rt, p.cfg.Poll)
			continue
		}
		readFailed = false
		if r == nil { // caught up
			if passed > 0 {
				p.save(rt, log)
				passed = 0
			}
			if settle < settleLooks { // woken: the record may be a moment from the disk
				time.Sleep(time.Millisecond << (2 * settle))
				settle++
				continue
			}
			if p.wait(ctx, rt, p.cfg.Poll) {
				settle = 0
			}
			continue
		}
		settle = settleLooks
		seq := r.rec.Seq
		ev, ok := derive(r.line, &r.rec, rt.cur.Sessions[r.rec.Session])
		rt.cur.Sessions.note(&r.rec, seq)
		if ok && (len(rt.types) == 0 || slices.Contains(rt.types, ev.Type)) {
			body, err := json.Marshal(ev)
			if err != nil { // unreachable: Event holds strings and numbers
				panic(fmt.Sprintf("events: marshal event: %v", err))
			}
			if !p.deliver(ctx, rt, log, ev, body) {
				return
			}
			passed = idleSaveEvery // save now
		}
		rt.cur.Seq, rt.cur.ID = seq, ID(r.line)
		rt.mu.Lock()
		rt.done = seq
		rt.mu.Unlock()
		if passed++; passed >= idleSaveEvery {
			p.save(rt, log)
			passed = 0
		}
	}
}

// noteLost logs and counts records the reader found missing.
func (p *Pipeline) noteLost(rt *route, log *slog.Logger) {
	rt.mu.Lock()
	n := rt.rd.lost - rt.lost
	rt.lost = rt.rd.lost
	rt.mu.Unlock()
	if n > 0 {
		log.Error("events lost: audit trail segments were deleted before this sink read them", "records", n, "next_seq", rt.rd.want)
	}
}

// save writes rt's cursor; a failure is logged, and the events since the
// last saved cursor are delivered again after a restart.
func (p *Pipeline) save(rt *route, log *slog.Logger) {
	if err := rt.cur.save(rt.path); err != nil {
		log.Error("events: cursor not saved; a restart delivers some events again", "err", err.Error())
	}
}

// deliver sends ev until the sink takes it, with the backoff of Config;
// false when ctx ended first. A failing sink is logged at its first
// failure, then at most once every failLogEvery, and when it recovers.
func (p *Pipeline) deliver(ctx context.Context, rt *route, log *slog.Logger, ev Event, body []byte) bool {
	rt.mu.Lock()
	rt.pending = ev.Time.Time
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		rt.pending = time.Time{}
		rt.mu.Unlock()
	}()
	attempts := 0
	var since, logged time.Time
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := rt.sink.Deliver(actx, ev.ID, ev.Type, ev.User, body)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		rt.mu.Lock()
		if err == nil {
			rt.delivered++
		} else {
			rt.failed++
		}
		rt.mu.Unlock()
		if err == nil {
			if attempts > 0 {
				log.Warn("events: sink delivers again", "failed_attempts", attempts, "for", p.cfg.Now().Sub(since).Round(time.Second).String())
			}
			return true
		}
		attempts++
		delay := retryDelay(p.cfg.RetryMin, p.cfg.RetryMax, attempts)
		now := p.cfg.Now()
		if attempts == 1 {
			since = now
		}
		if logged.IsZero() || now.Sub(logged) >= failLogEvery {
			log.Error("events: sink failing; retrying with backoff, transfers go on", "err", err.Error(),
				"event", ev.ID, "failed_attempts", attempts, "retry_in", delay.String())
			logged = now
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// retryDelay is the wait after the n-th failed attempt at one event: first,
// doubling, capped at most (1s, 2s, 4s, 8s, 16s, 30s, 30s, ... by default).
func retryDelay(first, most time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

// wait returns after d, on a wake-up, or when ctx ends; true on a wake-up.
func (p *Pipeline) wait(ctx context.Context, rt *route, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-rt.wake:
		return true
	case <-ctx.Done():
	}
	return false
}
