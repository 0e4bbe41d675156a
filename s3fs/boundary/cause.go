package boundary

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// With audit paths = "hmac" file names are PHI that the server log may show
// only hashed. The cause of a failed S3 call is logged as error text, and
// that text names object keys twice: in s3fs's "verb key: ..."
// wrapping, and URL-escaped in the request URL that net/http quotes for a
// network error ("Put \"http://host/bucket/a%20b.csv?partNumber=1\": dial
// tcp ...: connection refused").

// Cause is err's text for the server log. When name is not nil (the trail
// hashes names), each request URL in it is cut to its scheme and host, and
// each of keys is replaced by name(key), its hash as the trail writes it.
// What failed stays readable: the operation, HTTP status, S3 error code,
// request ID, network error.
func Cause(err error, name func(string) string, keys ...string) string {
	if name == nil {
		return err.Error()
	}
	text := HideURLs(err)
	// longest first: a directory's key begins its children's keys
	for _, k := range slices.SortedFunc(slices.Values(keys), func(a, b string) int { return cmp.Compare(len(b), len(a)) }) {
		if k != "" {
			text = strings.ReplaceAll(text, k, name(k))
		}
	}
	return text
}

// HideURLs is err's text with the URL of every *url.Error among the errors
// it wraps cut to scheme and host: the path and query hold the object key.
func HideURLs(err error) string {
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
