package s3fs

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// With audit paths = "hmac" file names are PHI that the server log may show
// only hashed. The cause of a failed S3 call is logged as error text, and
// that text names object keys twice: in this package's "verb key: ..."
// wrapping, and URL-escaped in the request URL that net/http quotes for a
// network error ("Put \"http://host/bucket/a%20b.csv?partNumber=1\": dial
// tcp ...: connection refused").

// cause is err's text for the server log. When the trail hashes names, each
// request URL in it is cut to its scheme and host, and each of keys is
// replaced by its hash, as the trail writes it. What failed stays readable:
// the operation, HTTP status, S3 error code, request ID, network error.
func (h *handlers) cause(err error, keys ...string) string {
	if !h.audit.HashesNames() {
		return err.Error()
	}
	text := hideURLs(err)
	// longest first: a directory's key begins its children's keys
	for _, k := range slices.SortedFunc(slices.Values(keys), func(a, b string) int { return cmp.Compare(len(b), len(a)) }) {
		if k != "" {
			text = strings.ReplaceAll(text, k, h.audit.Name(k))
		}
	}
	return text
}

// Cause is err's text for a log line of no session (the orphan sweep that
// ops runs): its own wrapping names no key, but the URLs of network errors
// do, so with hidden names (audit paths = "hmac") they are cut to the host.
func (fs *FS) Cause(err error) string {
	if !fs.hideNames {
		return err.Error()
	}
	return hideURLs(err)
}

// hideURLs is err's text with the URL of every *url.Error among the errors
// it wraps cut to scheme and host: the path and query hold the object key.
func hideURLs(err error) string {
	text := err.Error()
	for _, ue := range urlErrors(err) {
		if ue.URL == "" {
			continue
		}
		hidden := "<url hidden>"
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			hidden = u.Scheme + "://" + u.Host + "/<path hidden>"
		}
		text = strings.ReplaceAll(text, strconv.Quote(ue.URL), strconv.Quote(hidden)) // url.Error quotes it with %q
		text = strings.ReplaceAll(text, ue.URL, hidden)
	}
	return text
}

// urlErrors finds every *url.Error in err's tree: errors.As finds only the
// first, and a sweep joins the errors of many requests.
func urlErrors(err error) []*url.Error {
	if err == nil {
		return nil
	}
	var found []*url.Error
	if ue, ok := err.(*url.Error); ok {
		found = append(found, ue)
	}
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		found = append(found, urlErrors(e.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, w := range e.Unwrap() {
			found = append(found, urlErrors(w)...)
		}
	}
	return found
}
