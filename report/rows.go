package report

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/s3sftpd/s3sftpd/audit"
)

// Row is one line of the report: a file operation, a login attempt, the end
// of a session, or a ban. Op says which ("upload", "download", "list",
// "mkdir", "rename", …, a refused request's op such as "stat"; "login",
// "session", "ban", "unban").
type Row struct {
	Time      audit.Time `json:"time"` // UTC, RFC 3339 with milliseconds, as in the trail
	Seq       uint64     `json:"seq"`
	User      string     `json:"user,omitempty"`
	KeyFP     string     `json:"key_fp,omitempty"`
	CertID    string     `json:"cert_id,omitempty"`
	Remote    string     `json:"remote,omitempty"`
	Client    string     `json:"client,omitempty"`
	Session   string     `json:"session,omitempty"`
	Op        string     `json:"op"`
	Method    string     `json:"method,omitempty"` // login: the auth method; session: the one that let it in
	Path      string     `json:"path,omitempty"`
	Target    string     `json:"target,omitempty"` // rename: the new path
	Bucket    string     `json:"bucket,omitempty"`
	Key       string     `json:"key,omitempty"`
	Size      *int64     `json:"size,omitempty"`
	SHA256    string     `json:"sha256,omitempty"`
	VersionID string     `json:"version_id,omitempty"`
	Result    string     `json:"result"`
	Reason    string     `json:"reason,omitempty"`   // why it was refused or failed, as the partner was told
	DurMS     *int64     `json:"dur_ms,omitempty"`   // transfer or session length
	BytesIn   *int64     `json:"bytes_in,omitempty"` // session: bytes on the wire
	BytesOut  *int64     `json:"bytes_out,omitempty"`
}

// UserSummary counts one user's activity in the report's range.
type UserSummary struct {
	User         string `json:"user"`
	Sessions     int64  `json:"sessions"`      // logins that opened a session
	FailedLogins int64  `json:"failed_logins"` // auth attempts denied under this user name
	FilesUp      int64  `json:"files_up"`      // uploads stored
	BytesUp      int64  `json:"bytes_up"`
	FilesDown    int64  `json:"files_down"` // downloads completed
	BytesDown    int64  `json:"bytes_down"`
	Refusals     int64  `json:"refusals"` // requests refused (permission, jail, unsupported, …)
	Bans         int64  `json:"bans"`     // bans of an address this user name failed to log in from
}

// Day counts the files (uploads stored and downloads completed) of each
// user on one UTC day.
type Day struct {
	Date  string           `json:"date"` // 2006-01-02
	Files map[string]int64 `json:"files"`
}

// session is what a session's later records need from its first ones.
type session struct {
	remote, client      string
	user, keyFP, certID string
	method              string
	tried               string // the last user name an auth attempt gave
	counted             bool   // its login was counted in Sessions
}

// maxFailedFrom bounds the addresses remembered for attributing bans.
const maxFailedFrom = 100_000

// tracker follows the trail record by record: the sessions open, and the
// summaries and chart in the report's range. Its memory grows with users,
// days and open sessions only.
type tracker struct {
	o          Options
	users      map[string]bool // the -user filter; nil = all
	sessions   map[string]*session
	failedFrom map[string]map[string]bool // address → user names denied from it since its last ban
	summary    map[string]*UserSummary
	days       map[string]map[string]int64
	last       audit.Record // the last record added, for the passes to compare
}

func newTracker(o Options) *tracker {
	t := &tracker{o: o, sessions: map[string]*session{}, failedFrom: map[string]map[string]bool{},
		summary: map[string]*UserSummary{}, days: map[string]map[string]int64{}}
	if len(o.Users) > 0 {
		t.users = map[string]bool{}
		for _, u := range o.Users {
			t.users[u] = true
		}
	}
	return t
}

func (t *tracker) inRange(user string, at time.Time) bool {
	if t.users != nil && !t.users[user] {
		return false
	}
	return (t.o.Since.IsZero() || !at.Before(t.o.Since)) && (t.o.Until.IsZero() || at.Before(t.o.Until))
}

func (t *tracker) user(name string) *UserSummary {
	s := t.summary[name]
	if s == nil {
		s = &UserSummary{User: name}
		t.summary[name] = s
	}
	return s
}

// add follows r and, when emit is set, hands it the row r makes, if any.
func (t *tracker) add(r *audit.Record, emit func(*Row)) {
	s := t.follow(r)
	user := r.User
	if user == "" && s != nil {
		user = cmp.Or(s.user, s.tried) // a session that never logged in is the name it tried
	}
	if r.Event == audit.EventBan {
		t.ban(r)
	}
	if !t.inRange(user, r.Time.Time) {
		return
	}
	t.count(r, s, user)
	if emit == nil {
		return
	}
	if row := t.row(r, s, user); row != nil {
		emit(row)
	}
}

// follow keeps the session table: opened at connect, filled at a login,
// dropped at disconnect, and emptied when the server starts (a crash leaves
// sessions without a disconnect).
func (t *tracker) follow(r *audit.Record) *session {
	switch r.Event {
	case audit.EventServerStart:
		clear(t.sessions)
		return nil
	case audit.EventConnect:
		s := &session{remote: r.Remote, client: r.Client}
		if r.Session != "" {
			t.sessions[r.Session] = s
		}
		return s
	}
	s := t.sessions[r.Session]
	if s == nil {
		if r.Session == "" {
			return nil
		}
		s = &session{} // its connect is before the records given
		t.sessions[r.Session] = s
	}
	if r.Event == audit.EventAuth {
		s.tried = r.User
	}
	if r.Event == audit.EventAuth && r.Result == audit.ResultOK {
		s.user, s.keyFP, s.certID, s.method = r.User, r.KeyFP, r.CertID, r.Method
	}
	if r.Event == audit.EventDisconnect {
		delete(t.sessions, r.Session)
	}
	return s
}

// ban attributes a ban to the user names that failed from its address.
func (t *tracker) ban(r *audit.Record) {
	for u := range t.failedFrom[r.Remote] {
		if t.inRange(u, r.Time.Time) {
			t.user(u).Bans++
		}
	}
	delete(t.failedFrom, r.Remote)
}

// count adds r to the summary and the chart.
func (t *tracker) count(r *audit.Record, s *session, user string) {
	bytes := int64(0)
	if r.Bytes != nil {
		bytes = *r.Bytes
	}
	switch {
	case r.Event == audit.EventAuth && r.Result == audit.ResultDenied:
		t.user(user).FailedLogins++
		if s != nil {
			if host, _, err := net.SplitHostPort(s.remote); err == nil {
				if t.failedFrom[host] == nil {
					if len(t.failedFrom) >= maxFailedFrom {
						clear(t.failedFrom)
					}
					t.failedFrom[host] = map[string]bool{}
				}
				t.failedFrom[host][user] = true
			}
		}
	case r.Event == audit.EventAuth && r.Result == audit.ResultOK && s != nil && s.user != "" && r.Reason == "" && !s.counted:
		s.counted = true
		t.user(user).Sessions++
	case r.Event == audit.EventClose && r.Result == audit.ResultOK:
		u := t.user(user)
		if r.Mode == "write" {
			u.FilesUp++
			u.BytesUp += bytes
		} else {
			u.FilesDown++
			u.BytesDown += bytes
		}
		day := r.Time.UTC().Format(time.DateOnly)
		if t.days[day] == nil {
			t.days[day] = map[string]int64{}
		}
		t.days[day][user]++
	case r.Event == audit.EventUnrecorded && r.Count != nil:
		t.user(user).Refusals += *r.Count
	case r.Result == audit.ResultDenied && r.Event != audit.EventAuth && r.Event != audit.EventBan && user != "":
		t.user(user).Refusals++
	}
}

// row is the report's row for r, or nil for records that are not activity
// (the trail's own, server events, the open of a transfer that closed).
func (t *tracker) row(r *audit.Record, s *session, user string) *Row {
	row := &Row{Time: audit.Time{Time: r.Time.UTC()}, Seq: r.Seq, User: user, Session: r.Session, Result: r.Result,
		Path: t.name(r.Path), Target: t.name(r.Target), Bucket: r.Bucket, Key: t.name(r.Key),
		Size: r.Bytes, SHA256: r.SHA256, VersionID: r.VersionID, DurMS: r.DurMS, Reason: reason(r)}
	if s != nil {
		row.Remote, row.Client, row.KeyFP, row.CertID = s.remote, s.client, s.keyFP, s.certID
	}
	switch r.Event {
	case audit.EventAuth:
		row.Op, row.Method, row.KeyFP, row.CertID = "login", r.Method, r.KeyFP, r.CertID
	case audit.EventDisconnect:
		row.Op, row.BytesIn, row.BytesOut = "session", r.BytesIn, r.BytesOut
		if s != nil {
			row.Method = s.method
		}
	case audit.EventConnect:
		if r.Result == audit.ResultOK {
			return nil // the session's row comes at its disconnect
		}
		row.Op = "session"
	case audit.EventBan, audit.EventUnban:
		row.Op, row.Remote, row.Client, row.Session = r.Event, r.Remote, "", ""
	case audit.EventOpen:
		if r.Result == audit.ResultOK {
			return nil // the transfer's row comes at its close
		}
		row.Op, row.Size = transfer(r.Mode), nil
	case audit.EventClose:
		row.Op = transfer(r.Mode)
	case audit.EventRefused:
		row.Op = r.Op
	case audit.EventUnrecorded:
		row.Op = "unrecorded"
		if r.Count != nil {
			row.Reason = fmt.Sprintf("%d more refused requests, not recorded one by one (%s)", *r.Count, r.Reason)
		}
	case audit.EventList, audit.EventMkdir, audit.EventRmdir, audit.EventRename, audit.EventRemove, audit.EventSetstat, audit.EventChecksum, audit.EventPresign:
		row.Op = r.Event
	default:
		return nil
	}
	if r.Event == audit.EventRename {
		row.Key = t.name(r.Key) + " → " + t.name(r.TargetKey)
	}
	return row
}

func transfer(mode string) string {
	if mode == "write" {
		return "upload"
	}
	return "download"
}

// reason is why r was refused or failed: the message the partner got, and
// the trail's reason word.
func reason(r *audit.Record) string {
	switch {
	case r.Error != "" && r.Reason != "" && !strings.Contains(r.Error, r.Reason):
		return r.Reason + ": " + r.Error
	case r.Error != "":
		return r.Error
	}
	return r.Reason
}

// name is a path or key as the report shows it: resolved when Names holds
// its hash.
func (t *tracker) name(s string) string {
	if !strings.HasPrefix(s, "hmac:") {
		return s
	}
	if real, ok := t.o.Names[s]; ok {
		return real
	}
	return s
}

// namesNote says how names are shown.
func (t *tracker) namesNote() string {
	switch {
	case t.o.Names == nil:
		return "names as the trail records them (with paths = \"hmac\" they stay hashed; -resolve-names shows the real ones still in S3)"
	default:
		return fmt.Sprintf("hashed names resolved against the objects now in S3 (%d names known); names of files deleted or renamed since stay hashed", len(t.o.Names))
	}
}

// results are the summaries (by user name), the days with files, and the
// users in the chart, all sorted.
func (t *tracker) results() ([]*UserSummary, []Day, []string) {
	var sums []*UserSummary
	for _, name := range slices.Sorted(maps.Keys(t.summary)) {
		sums = append(sums, t.summary[name])
	}
	var days []Day
	users := map[string]bool{}
	for _, d := range slices.Sorted(maps.Keys(t.days)) {
		days = append(days, Day{Date: d, Files: t.days[d]})
		for u := range t.days[d] {
			users[u] = true
		}
	}
	return sums, days, slices.Sorted(maps.Keys(users))
}
