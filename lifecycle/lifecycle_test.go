package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/s3test"
	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/pickup"
	"github.com/s3sftpd/s3sftpd/store"
)

// trail is an audit log in memory.
type trail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (tr *trail) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.Write(p)
}

func (tr *trail) records(t *testing.T) []audit.Record {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(tr.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func openTrail(t *testing.T, cfg audit.Config) (*trail, *audit.Log) {
	t.Helper()
	tr := &trail{}
	cfg.Stdout = tr
	l, err := audit.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return tr, l
}

func dial(t *testing.T, srv *s3test.Server) store.Objects {
	t.Helper()
	st, err := store.Dial(context.Background(), store.Config{
		Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
		SSE: store.SSEAES256, Checksums: store.ChecksumsCompat,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st.Objects()
}

func usersOf(t *testing.T, us ...auth.User) func() *auth.Users {
	t.Helper()
	users, err := auth.NewUsers(us)
	if err != nil {
		t.Fatal(err)
	}
	return func() *auth.Users { return users }
}

func outboundUser(bucket string, lc auth.Lifecycle) auth.User {
	return auth.User{Name: "acme", Bucket: bucket, Perms: auth.PermList | auth.PermRead, Folders: []auth.Folder{
		{Path: "/outbound", Bucket: bucket, Prefix: "outbound/acme/", Perms: auth.PermList | auth.PermRead | auth.PermDelete, Lifecycle: lc}}}
}

func lastModified(t *testing.T, obj store.Objects, bucket, key string) time.Time {
	t.Helper()
	h, err := obj.Head(context.Background(), store.HeadRequest{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return h.LastModified
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func byEvent(recs []audit.Record, event string) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.Event == event {
			out = append(out, r)
		}
	}
	return out
}

// TestSweep_DeletesExactlyTheOldFiles: a file past the retention goes and
// is recorded with the user, path, folder, key and size; a younger one, a
// directory marker, the folder's times index and the lease stay.
func TestSweep_DeletesExactlyTheOldFiles(t *testing.T) {
	srv := s3test.Start(t)
	obj := dial(t, srv)
	srv.Put(t, "outbound/acme/old.csv", []byte("old report"))
	srv.Put(t, "outbound/acme/sub/old2.csv", []byte("old too"))
	srv.Put(t, "outbound/acme/"+objfmt.TimesIndex, []byte("{}"))
	srv.Put(t, "outbound/acme/sub/"+objfmt.TimesIndex, []byte("{}"))
	srv.Put(t, "outbound/acme/sub/", nil)
	srv.Put(t, "elsewhere/old.csv", []byte("not in the folder"))
	time.Sleep(1100 * time.Millisecond) // LastModified counts seconds
	srv.Put(t, "outbound/acme/new.csv", []byte("new report"))
	const retention = 10 * time.Second
	clock := lastModified(t, obj, srv.Bucket, "outbound/acme/new.csv").Add(retention - 500*time.Millisecond)
	tr, l := openTrail(t, audit.Config{})
	s := New(Config{Objects: obj, Trail: l, Log: quietLog(), Users: usersOf(t, outboundUser(srv.Bucket, auth.Lifecycle{Retention: retention})),
		Now: func() time.Time { return clock }})
	s.Round(context.Background())

	want := []string{"elsewhere/old.csv", "outbound/acme/" + objfmt.LifecycleLease, "outbound/acme/" + objfmt.TimesIndex,
		"outbound/acme/new.csv", "outbound/acme/sub/", "outbound/acme/sub/" + objfmt.TimesIndex}
	if got := srv.Keys(t, ""); !slices.Equal(got, want) {
		t.Errorf("after the sweep the bucket holds %q; want %q", got, want)
	}
	recs := byEvent(tr.records(t), pickup.EventRetentionDelete)
	slices.SortFunc(recs, func(a, b audit.Record) int { return strings.Compare(a.Key, b.Key) })
	if len(recs) != 2 {
		t.Fatalf("%d retention_delete records; want 2: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.User != "acme" || r.Path != "/outbound/old.csv" || r.Folder != "/outbound" || r.Bucket != srv.Bucket || r.Key != "outbound/acme/old.csv" ||
		r.Result != audit.ResultOK || r.Bytes == nil || *r.Bytes != int64(len("old report")) || r.ETag == "" || r.Session != "" {
		t.Errorf("retention_delete = %+v; want acme's /outbound/old.csv, ok, with its size and ETag, no session", r)
	}
	if recs[1].Path != "/outbound/sub/old2.csv" {
		t.Errorf("second record's path = %q; want /outbound/sub/old2.csv", recs[1].Path)
	}
}

// TestSweep_TwoGatewaysRecordOnce: two gateways sweeping one folder over
// and over, as the clock passes each file's wait and then its retention,
// delete every file and record each deletion and each not_picked_up once
// across both trails; with paths = "hmac" the names are the trail's hashes.
func TestSweep_TwoGatewaysRecordOnce(t *testing.T) {
	srv := s3test.Start(t)
	obj := dial(t, srv)
	for _, name := range []string{"a.csv", "b.csv", "c.csv"} {
		srv.Put(t, "outbound/acme/"+name, []byte("report "+name))
	}
	lm := lastModified(t, obj, srv.Bucket, "outbound/acme/a.csv")
	lc := auth.Lifecycle{Retention: time.Hour, NotPickedUpAfter: 10 * time.Minute}
	users := usersOf(t, outboundUser(srv.Bucket, lc))
	key := []byte("0123456789abcdef0123456789abcdef")
	var mu sync.Mutex
	clock := lm
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	var trails []*trail
	var sweepers []*Sweeper
	for _, holder := range []string{"gw-1", "gw-2"} {
		tr, l := openTrail(t, audit.Config{HMACKey: key, HashPaths: true})
		trails = append(trails, tr)
		sweepers = append(sweepers, New(Config{Objects: obj, Trail: l, Log: quietLog(), Users: users, Holder: holder, Now: now}))
	}
	// Minutes pass; each step both gateways sweep at once, racing for
	// the lease, and once the lease has expired the other takes over.
	for _, step := range []time.Duration{0, 5 * time.Minute, 11 * time.Minute, 12 * time.Minute, 20 * time.Minute, 59 * time.Minute, 61 * time.Minute, 62 * time.Minute, 70 * time.Minute} {
		mu.Lock()
		clock = lm.Add(step)
		mu.Unlock()
		var wg sync.WaitGroup
		for _, s := range sweepers {
			wg.Go(func() {
				clear(s.due) // sweep every step, whatever the interval
				s.Round(context.Background())
			})
		}
		wg.Wait()
	}
	if got := srv.Keys(t, "outbound/acme/"); !slices.Equal(got, []string{"outbound/acme/" + objfmt.LifecycleLease}) {
		t.Errorf("after the retention the folder holds %q; want only the lease", got)
	}
	var all []audit.Record
	for _, tr := range trails {
		all = append(all, tr.records(t)...)
	}
	for _, event := range []string{pickup.EventNotPickedUp, pickup.EventRetentionDelete} {
		seen := map[string]int{}
		for _, r := range byEvent(all, event) {
			seen[r.Key]++
			if !strings.HasPrefix(r.Key, "hmac:") || !strings.HasPrefix(r.Path, "hmac:") || r.Folder != "/outbound" {
				t.Errorf("%s names %q at %q in %q; want hashed key and path, clear folder", event, r.Key, r.Path, r.Folder)
			}
			if event == pickup.EventNotPickedUp && (r.DurMS == nil || *r.DurMS < (10*time.Minute).Milliseconds()) {
				t.Errorf("not_picked_up dur_ms = %v; want at least the 10 minutes waited", r.DurMS)
			}
		}
		if len(seen) != 3 {
			t.Errorf("%s recorded for %d files; want 3", event, len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("%s of %s recorded %d times across both gateways; want once", event, k, n)
			}
		}
	}
}

// TestSweep_ChangedFileIsLeft: a file uploaded again between the listing
// and the delete is new, so the sweep leaves it and records nothing.
func TestSweep_ChangedFileIsLeft(t *testing.T) {
	srv := s3test.Start(t)
	obj := dial(t, srv)
	srv.Put(t, "outbound/acme/a.csv", []byte("old"))
	clock := lastModified(t, obj, srv.Bucket, "outbound/acme/a.csv").Add(time.Hour)
	tr, l := openTrail(t, audit.Config{})
	racing := &uploadBeforeHead{Objects: obj, put: func() { srv.Put(t, "outbound/acme/a.csv", []byte("new upload")) }}
	s := New(Config{Objects: racing, Trail: l, Log: quietLog(), Users: usersOf(t, outboundUser(srv.Bucket, auth.Lifecycle{Retention: time.Minute})),
		Now: func() time.Time { return clock }})
	s.Round(context.Background())
	if got, ok := srv.Get(t, "outbound/acme/a.csv"); !ok || string(got) != "new upload" {
		t.Errorf("the new upload reads %q, %v; want it left", got, ok)
	}
	if recs := byEvent(tr.records(t), pickup.EventRetentionDelete); len(recs) != 0 {
		t.Errorf("retention_delete records for a file that changed: %+v", recs)
	}
}

// uploadBeforeHead runs put before the first HEAD: a partner's upload
// racing the sweep.
type uploadBeforeHead struct {
	store.Objects
	put  func()
	once sync.Once
}

func (u *uploadBeforeHead) Head(ctx context.Context, r store.HeadRequest) (store.Object, error) {
	u.once.Do(u.put)
	return u.Objects.Head(ctx, r)
}

func TestPlaces_SharedPrefixNamesNoUser(t *testing.T) {
	lc := auth.Lifecycle{Retention: time.Hour}
	shared := auth.Folder{Path: "/shared", Bucket: "b", Prefix: "hospital/out/", Lifecycle: lc}
	a := auth.User{Name: "a", Folders: []auth.Folder{shared, {Path: "/outbound", Bucket: "b", Prefix: "outbound/a/", Lifecycle: lc}}}
	b := auth.User{Name: "b", Folders: []auth.Folder{shared, {Path: "/kept", Bucket: "b", Prefix: "kept/b/"}}}
	got := Places([]auth.User{a, b})
	want := []Place{
		{Bucket: "b", Prefix: "hospital/out/", Folder: "/shared", Retention: time.Hour},
		{Bucket: "b", Prefix: "outbound/a/", Folder: "/outbound", User: "a", Retention: time.Hour},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Places = %+v; want %+v", got, want)
	}
	for _, tt := range []struct {
		p    Place
		want time.Duration
	}{
		{Place{Retention: 20 * time.Second}, MinInterval},
		{Place{Retention: 30 * 24 * time.Hour, NotPickedUpAfter: 48 * time.Hour}, MaxInterval},
		{Place{Retention: time.Hour, NotPickedUpAfter: 4 * time.Minute}, time.Minute},
	} {
		if got := tt.p.Interval(); got != tt.want {
			t.Errorf("Interval of %+v = %v; want %v", tt.p, got, tt.want)
		}
	}
}

// TestSweeper_FollowsReload: a retention a reload adds to a folder takes
// effect at the next round, without a restart.
func TestSweeper_FollowsReload(t *testing.T) {
	srv := s3test.Start(t)
	obj := dial(t, srv)
	srv.Put(t, "outbound/acme/a.csv", []byte("old"))
	clock := lastModified(t, obj, srv.Bucket, "outbound/acme/a.csv").Add(time.Hour)
	before, after := usersOf(t, outboundUser(srv.Bucket, auth.Lifecycle{})), usersOf(t, outboundUser(srv.Bucket, auth.Lifecycle{Retention: time.Minute}))
	current := before
	_, l := openTrail(t, audit.Config{})
	s := New(Config{Objects: obj, Trail: l, Log: quietLog(), Users: func() *auth.Users { return current() }, Now: func() time.Time { return clock }})
	s.Round(context.Background())
	if _, ok := srv.Get(t, "outbound/acme/a.csv"); !ok {
		t.Fatalf("a folder without retention was swept")
	}
	current = after
	s.Round(context.Background())
	if _, ok := srv.Get(t, "outbound/acme/a.csv"); ok {
		t.Errorf("the retention the reload added was not applied at the next round")
	}
}

// slowList lists one object a page, each page taking step of the clock.
type slowList struct {
	store.Objects
	tick func()
}

func (s slowList) List(ctx context.Context, r store.ListRequest) (store.ListPage, error) {
	s.tick()
	r.MaxKeys = 1
	return s.Objects.List(ctx, r)
}

// TestSweep_LongSweepKeepsItsLease: a sweep that lasts longer than its
// lease renews it as it goes, so another gateway does not take the folder
// over in the middle and record the same files again.
func TestSweep_LongSweepKeepsItsLease(t *testing.T) {
	srv := s3test.Start(t)
	obj := dial(t, srv)
	for _, name := range []string{"a", "b", "c", "d"} {
		srv.Put(t, "outbound/acme/"+name+".csv", []byte(name))
	}
	var mu sync.Mutex
	clock := lastModified(t, obj, srv.Bucket, "outbound/acme/a.csv")
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	var second *Sweeper
	var p Place
	pages := 0
	var during Result
	tick := func() {
		mu.Lock()
		clock = clock.Add(40 * time.Second)
		mu.Unlock()
		if pages++; pages == 3 { // two minutes into the sweep, twice the lease's minute
			res, err := second.Sweep(context.Background(), p)
			if err != nil {
				t.Error(err)
			}
			during = res
		}
	}
	users := usersOf(t, outboundUser(srv.Bucket, auth.Lifecycle{NotPickedUpAfter: 20 * time.Second}))
	_, l := openTrail(t, audit.Config{})
	first := New(Config{Objects: slowList{obj, tick}, Trail: l, Log: quietLog(), Users: users, Holder: "gw-1", Now: now})
	second = New(Config{Objects: obj, Trail: l, Log: quietLog(), Users: users, Holder: "gw-2", Now: now})
	p = Places(users().List())[0]
	if res, err := first.Sweep(context.Background(), p); err != nil || !res.Held {
		t.Fatalf("first sweep = %+v, %v", res, err)
	}
	if pages < 3 || during.Held {
		t.Errorf("in the middle of a long sweep (%d pages) another gateway swept too: %+v; want the lease still held", pages, during)
	}
}

// TestSweep_EncryptedNamesRecordedPlain: with encrypted object names, a
// record's path is the name the user sees, its key the stored one.
func TestSweep_EncryptedNamesRecordedPlain(t *testing.T) {
	srv := s3test.Start(t)
	obj := dial(t, srv)
	kek, err := objfmt.NewKEK(bytes.Repeat([]byte{7}, objfmt.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	namesOf := func(bucket, prefix string) *objfmt.Names {
		n, err := objfmt.NamesFromKEK(kek, bucket, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := namesOf(srv.Bucket, "outbound/acme/")
	key := "outbound/acme/" + n.Encrypt("2026") + "/" + n.Encrypt("labs.csv")
	srv.Put(t, key, []byte("labs"))
	clock := lastModified(t, obj, srv.Bucket, key).Add(time.Hour)
	tr, l := openTrail(t, audit.Config{})
	s := New(Config{Objects: obj, Trail: l, Log: quietLog(), Users: usersOf(t, outboundUser(srv.Bucket, auth.Lifecycle{Retention: time.Minute})),
		Now: func() time.Time { return clock }, Names: namesOf})
	s.Round(context.Background())
	recs := byEvent(tr.records(t), pickup.EventRetentionDelete)
	if len(recs) != 1 || recs[0].Path != "/outbound/2026/labs.csv" || recs[0].Key != key {
		t.Errorf("retention_delete = %+v; want path /outbound/2026/labs.csv, key %s", recs, key)
	}
}

// deniedDelete refuses every delete, as a bucket policy would.
type deniedDelete struct{ store.Objects }

func (deniedDelete) DeleteExact(context.Context, store.DeleteRequest) error {
	return errors.New("access denied")
}

// TestSweep_LastingFailureRecordedOnce: a delete the store keeps refusing
// is recorded as an error once, not at every sweep, and the file stays.
func TestSweep_LastingFailureRecordedOnce(t *testing.T) {
	srv := s3test.Start(t)
	obj := dial(t, srv)
	srv.Put(t, "outbound/acme/a.csv", []byte("old"))
	clock := lastModified(t, obj, srv.Bucket, "outbound/acme/a.csv").Add(time.Hour)
	tr, l := openTrail(t, audit.Config{})
	s := New(Config{Objects: deniedDelete{obj}, Trail: l, Log: quietLog(), Users: usersOf(t, outboundUser(srv.Bucket, auth.Lifecycle{Retention: time.Minute})),
		Now: func() time.Time { return clock }})
	for range 3 {
		clear(s.due)
		s.Round(context.Background())
	}
	recs := byEvent(tr.records(t), pickup.EventRetentionDelete)
	if len(recs) != 1 || recs[0].Result != audit.ResultError || !strings.HasPrefix(recs[0].Error, "delete failed") {
		t.Errorf("retention_delete records = %+v; want one error", recs)
	}
	if _, ok := srv.Get(t, "outbound/acme/a.csv"); !ok {
		t.Errorf("a refused delete lost the file")
	}
}
