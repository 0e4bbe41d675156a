// Package listing pages one folder's ListObjectsV2 for pkg/sftp's
// ListerAt. The client reads entries at ascending offsets; each page is
// turned into entries as it comes (the caller's Entries: names, sizes,
// times), and the next page is asked for while the client reads the one
// before, so a long listing waits on S3 and on the client at the same time,
// not one after the other. At most two pages are held, however large the
// folder. It knows nothing of names, times or permissions, and never
// imports s3fs.
package listing

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/s3fs/boundary"
	"github.com/s3sftpd/s3sftpd/store"
	"github.com/s3sftpd/s3sftpd/vfs"
)

// Entries turns one page into the client's entries, in order; first and
// last say which page it is.
type Entries func(page store.ListPage, first, last bool) []os.FileInfo

// Lister is a pkg/sftp ListerAt over one folder. Close it (pkg/sftp does,
// when the client closes the directory): it waits for the page asked for
// ahead.
type Lister struct {
	ctx     context.Context
	obj     store.Objects
	req     store.ListRequest // Token: of the next page
	entries Entries
	failed  func(error) error // what the client is told of a failed page

	page   []os.FileInfo // entries fetched and not yet returned
	served int64         // offset of page[0]
	last   bool

	ahead  chan listed        // the next page, asked for while the client reads this one
	cancel context.CancelFunc // of the request for it
	wg     sync.WaitGroup
}

// listed is a ListObjectsV2 page as it came back.
type listed struct {
	out store.ListPage
	err error
}

// New lists the first page of req (Prefix and Delimiter set, Token empty)
// through entries. A failed page, this one or a later one, is answered
// with failed's error.
func New(ctx context.Context, obj store.Objects, req store.ListRequest, entries Entries, failed func(error) error) (*Lister, error) {
	l := &Lister{ctx: ctx, obj: obj, req: req, entries: entries, failed: failed}
	if err := l.fetch(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// listAhead asks for the next page in the background.
func (l *Lister) listAhead() {
	ctx, cancel := context.WithCancel(l.ctx)
	l.ahead, l.cancel = make(chan listed, 1), cancel
	req := l.req
	l.wg.Go(func() {
		out, err := l.obj.List(ctx, req)
		l.ahead <- listed{out, err}
	})
}

// Close stops a page asked for ahead and waits for it.
func (l *Lister) Close() error {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	return nil
}

// fetch adds the next page's entries, waiting for the one asked for ahead.
func (l *Lister) fetch() error {
	first := l.ahead == nil && l.req.Token == ""
	var r listed
	if l.ahead != nil {
		r = <-l.ahead
		l.cancel()
		l.ahead, l.cancel = nil, nil
	} else {
		r.out, r.err = l.obj.List(l.ctx, l.req)
	}
	if r.err != nil {
		return l.failed(r.err)
	}
	l.req.Token = r.out.NextToken
	l.last = l.req.Token == ""
	l.page = append(l.page, l.entries(r.out, first, l.last)...)
	if !l.last {
		l.listAhead()
	}
	return nil
}

// ListAt returns entries from offset off; pkg/sftp asks with ascending
// offsets.
func (l *Lister) ListAt(ls []os.FileInfo, off int64) (int, error) {
	if off < l.served {
		return 0, boundary.Failure("list failed: directory can only be read forwards")
	}
	for off-l.served >= int64(len(l.page)) && !l.last {
		l.served += int64(len(l.page))
		l.page = l.page[:0]
		if err := l.fetch(); err != nil {
			return 0, err
		}
	}
	skip := off - l.served
	if skip >= int64(len(l.page)) {
		return 0, io.EOF
	}
	n := copy(ls, l.page[skip:])
	l.served += skip + int64(n)
	l.page = l.page[skip+int64(n):]
	if len(l.page) == 0 && l.last {
		return n, io.EOF
	}
	return n, nil
}

// Listable hides the names no client could address (keys written by other
// tools), and the gateway's own objects (objfmt.Reserved).
func Listable(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.Contains(name, "/") && vfs.CheckName(name) == nil && !objfmt.Reserved(name)
}
