package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/s3sftpd/s3sftpd/auth"
)

// remindEvery is how often one expiring key is warned of.
const remindEvery = 24 * time.Hour

// Reminder warns, once a day per key, of the listed keys whose
// expiry-time comes within ExpiryAhead, and counts them for the metric. It
// reads the user map in force at every check, so after a reload a new
// expiring key is warned of at the next check and a removed one no more.
type Reminder struct {
	// Users is the map in force (auth.Live.Users).
	Users func() *auth.Users
	Log   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex
	warned map[userKey]time.Time // when each expiring key was last warned of
}

// ExpiringKey is a listed key whose expiry-time comes within ExpiryAhead.
type ExpiringKey struct {
	User, Fingerprint string
	Expiry            time.Time
}

// expiring lists the keys of users that expire after now and within
// ExpiryAhead; expired keys are refused already and not counted.
func expiring(users *auth.Users, now time.Time) []ExpiringKey {
	var out []ExpiringKey
	for _, u := range users.List() {
		for i, ko := range u.KeyOptions {
			if exp := ko.Expiry; !exp.IsZero() && now.Before(exp) && exp.Sub(now) <= ExpiryAhead && i < len(u.Keys) {
				out = append(out, ExpiringKey{User: u.Name, Fingerprint: auth.Fingerprint(u.Keys[i]), Expiry: exp})
			}
		}
	}
	return out
}

func (r *Reminder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Count is how many listed keys expire within ExpiryAhead now: the
// s3sftpd_keys_expiring gauge, read at each scrape.
func (r *Reminder) Count() int { return len(expiring(r.Users(), r.now())) }

// Check warns of each expiring key not warned of in the last day, and
// forgets the keys that no longer expire soon (removed, renewed, expired).
func (r *Reminder) Check() {
	now := r.now()
	keys := expiring(r.Users(), now)
	r.mu.Lock()
	defer r.mu.Unlock()
	still := make(map[userKey]time.Time, len(keys))
	for _, k := range keys {
		id := userKey{k.User, k.Fingerprint}
		last, ok := r.warned[id]
		if ok && now.Sub(last) < remindEvery {
			still[id] = last
			continue
		}
		still[id] = now
		r.remind(k, now)
	}
	r.warned = still
}

// remind warns of one expiring key. The key_expiring event of the events
// issue (20) is emitted here too, once it lands.
func (r *Reminder) remind(k ExpiringKey, now time.Time) {
	r.Log.Warn("key expires soon: list the partner's new key before then, or its logins stop",
		"user", k.User, "key_fp", k.Fingerprint, "expires", k.Expiry.UTC().Format(time.RFC3339), "in", until(k.Expiry.Sub(now)))
}

// Run checks at once and then every period until ctx ends.
func (r *Reminder) Run(ctx context.Context, period time.Duration) {
	r.Check()
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.Check()
		}
	}
}

// until is a time left, in days when a day or more.
func until(d time.Duration) string {
	if n := int(d.Hours() / 24); n >= 1 {
		return fmt.Sprintf("%d days", n)
	}
	return d.Round(time.Minute).String()
}
