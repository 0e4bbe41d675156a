package s3fs

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
)

// TestRename_PlainNeverReplaces: a plain SSH_FXP_RENAME onto an existing
// file fails, as in OpenSSH and the SFTP v3 draft, with a message saying how
// to replace it, and both files stay as they were; posix-rename replaces it
// when the user may overwrite.
func TestRename_PlainNeverReplaces(t *testing.T) {
	e := newEnv(t, ChecksumsCompat)
	c := e.session(t, "r/", auth.AllPerms)
	e.s3.Put(t, "r/a.txt", []byte("aaa"))
	e.s3.Put(t, "r/b.txt", []byte("bbb"))
	wantStatus(t, "plain rename onto an existing file", c.Rename("/a.txt", "/b.txt"), statusFailure, "delete the target first, or use posix-rename")
	for key, want := range map[string]string{"r/a.txt": "aaa", "r/b.txt": "bbb"} {
		if got, _ := e.s3.Get(t, key); string(got) != want {
			t.Errorf("%s holds %q after a refused rename; want %q", key, got, want)
		}
	}
	if err := c.PosixRename("/a.txt", "/b.txt"); err != nil {
		t.Fatalf("posix-rename onto an existing file: %v", err)
	}
	if got, _ := e.s3.Get(t, "r/b.txt"); string(got) != "aaa" {
		t.Errorf("b.txt holds %q after posix-rename; want a.txt's aaa", got)
	}
	if _, ok := e.s3.Get(t, "r/a.txt"); ok {
		t.Errorf("a.txt still exists after posix-rename")
	}

	noOverwrite := e.session(t, "r/", auth.AllPerms&^auth.PermOverwrite)
	e.s3.Put(t, "r/c.txt", []byte("ccc"))
	if err := noOverwrite.PosixRename("/c.txt", "/b.txt"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("posix-rename onto an existing file without overwrite = %v; want permission denied", err)
	}
	if got, _ := e.s3.Get(t, "r/b.txt"); string(got) != "aaa" {
		t.Errorf("b.txt holds %q after a refused posix-rename; want it unchanged", got)
	}

	blind := e.session(t, "r/", auth.PermWrite|auth.PermOverwrite|auth.PermRename) // cannot list or read
	err := blind.Rename("/c.txt", "/b.txt")
	wantStatus(t, "plain rename by a user who cannot list", err, statusFailure, "or use posix-rename")
	if err != nil && strings.Contains(err.Error(), "exists") {
		t.Errorf("refusal to a user who cannot list says the target exists: %v", err)
	}
	if err := c.Rename("/c.txt", "/new.txt"); err != nil {
		t.Errorf("plain rename onto a new name: %v", err)
	}
	if got, _ := e.s3.Get(t, "r/new.txt"); string(got) != "ccc" {
		t.Errorf("new.txt holds %q; want c.txt's ccc", got)
	}
}
