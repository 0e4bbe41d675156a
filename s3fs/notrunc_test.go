package s3fs

import (
	"bytes"
	"os"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
)

// TestUpload_OpenWithoutTruncate: an open without TRUNC over an existing
// file that writes nothing leaves it whole (lftp put -c of a complete file);
// a SETSTAT size=0 on it makes it empty (scp of an empty file).
func TestUpload_OpenWithoutTruncate(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "p/", auth.AllPerms)
	data := randBytes(100)
	for _, tc := range []struct {
		name     string
		truncate bool
		want     []byte
	}{
		{"nothing-written", false, data},
		{"size-zero", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := writeFile(t, c, "/x", data); err != nil {
				t.Fatal(err)
			}
			f, err := c.OpenFile("/x", os.O_WRONLY)
			if err != nil {
				t.Fatal(err)
			}
			if tc.truncate {
				if err := f.Truncate(0); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if got, ok := e.s3.Get(t, "p/x"); !ok || !bytes.Equal(got, tc.want) {
				t.Errorf("object holds %d bytes (exists %v); want %d", len(got), ok, len(tc.want))
			}
		})
	}
}
