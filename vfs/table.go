package vfs

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/objfmt"
)

// Folder is a mount at a path of the namespace other than "/".
type Folder struct {
	Path string // "/inbound", "/reports/monthly": clean, absolute, never "/"
	Mount
}

// Table is a user's namespace: the home (if any) at "/" and the folders at
// their paths. A path at or below a folder's path is the folder's; every
// other path is the home's, or, without a home, part of the virtual tree
// that only lists the folders. A Table is immutable.
type Table struct {
	home    *Mount
	folders []Folder // by path
}

// NewTable builds the namespace of home (nil for none) and folders. The
// config has reported bad layouts with positions; this is the last line of
// defence: every path clean and absolute, no folder inside another.
func NewTable(home *Mount, folders []Folder) (*Table, error) {
	fs := slices.Clone(folders)
	slices.SortFunc(fs, func(a, b Folder) int { return strings.Compare(a.Path, b.Path) })
	for i, f := range fs {
		if f.Path == "/" || !strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) != f.Path || !strings.HasSuffix(f.Prefix, "/") {
			return nil, fmt.Errorf("folder %q: want a clean path below / and a prefix ending in /", f.Path)
		}
		if err := CheckName(f.Path); err != nil {
			return nil, fmt.Errorf("folder %q: %w", f.Path, err)
		}
		for _, o := range fs[:i] {
			if o.Path == f.Path || strings.HasPrefix(f.Path, o.Path+"/") {
				return nil, fmt.Errorf("folder %q is inside folder %q", f.Path, o.Path)
			}
		}
	}
	if home == nil && len(fs) == 0 {
		return nil, fmt.Errorf("a namespace needs a home or a folder")
	}
	if home != nil {
		h := *home
		home = &h
	}
	return &Table{home: home, folders: fs}, nil
}

// Home is the mount at "/", or nil without a home.
func (t *Table) Home() *Mount { return t.home }

// Folders are the folders, by path. Callers must not modify them.
func (t *Table) Folders() []Folder { return t.folders }

// Place is where a client path leads.
type Place struct {
	// Path is the client path, cleaned: "/" or "/a/b".
	Path string
	// Folder is the path of the mount serving Path: "/" for the home,
	// "/inbound" for a folder, "" when no mount does.
	Folder string
	// Mount serves Path; nil when Path is in the virtual tree (no home).
	Mount *Mount
	// Key is Path's object key in Mount (its prefix for the mount's root).
	Key string
	// Virtual: folders lie below Path ("/reports" of "/reports/monthly",
	// or "/" of any folder), so it is a directory whatever the objects;
	// it cannot be written, removed or renamed. Without a home it is
	// listed from the folders alone.
	Virtual bool
}

// Exists reports whether Path is something: a virtual directory or a
// path in a mount (whose object may or may not exist).
func (pl Place) Exists() bool { return pl.Mount != nil || pl.Virtual }

// FolderRoot reports whether Path is the root of a folder (not the home),
// which the user cannot remove or rename.
func (pl Place) FolderRoot() bool { return pl.Mount != nil && pl.Folder != "/" && pl.Path == pl.Folder }

// Resolve maps a client path to its place. A path is cleaned as if "/"
// were the root, so ".." never climbs out of a folder (it climbs into the
// tree, and a path is a folder's only while it stays below the folder's
// path); names the jail refuses give a *PathError.
func (t *Table) Resolve(p string) (Place, error) {
	if err := CheckName(p); err != nil {
		return Place{}, err
	}
	clean := path.Clean("/" + p)
	pl := Place{Path: clean, Virtual: clean == "/" && t.home == nil}
	for i, f := range t.folders {
		switch {
		case clean == f.Path || strings.HasPrefix(clean, f.Path+"/"):
			key, err := f.Mount.Key(clean[len(f.Path):])
			if err != nil {
				return Place{}, err
			}
			pl.Folder, pl.Mount, pl.Key = f.Path, &t.folders[i].Mount, key
			return pl, nil
		case clean == "/" || strings.HasPrefix(f.Path, clean+"/"):
			pl.Virtual = true
		}
	}
	if t.home != nil {
		key, err := t.home.Key(clean)
		if err != nil {
			return Place{}, err
		}
		pl.Folder, pl.Mount, pl.Key = "/", t.home, key
	}
	return pl, nil
}

// Entries are the names the tree itself adds to a listing of the
// directory at dir (a cleaned path): the folders and the intermediate
// segments of folder paths directly below it, sorted, each once. A listing
// of the home adds them and leaves out its own entries of these names
// (Shadows), which the folders hide.
func (t *Table) Entries(dir string) []string {
	under := strings.TrimSuffix(dir, "/") + "/"
	var names []string
	for _, f := range t.folders {
		if rest, ok := strings.CutPrefix(f.Path, under); ok {
			name, _, _ := strings.Cut(rest, "/")
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// Shadows reports whether the entry name of the directory dir is hidden by
// the tree: a folder, or a directory above one, has that name.
func (t *Table) Shadows(dir, name string) bool {
	return slices.Contains(t.Entries(dir), name)
}

// TreeError refuses a change where there is nothing to change: in the
// virtual tree (no folder there), of a folder's root, or of a directory of
// the home that holds folders. Its text is meant for the partner and names
// only paths of its own tree.
type TreeError struct {
	Op   string   // "upload", "mkdir", "remove", "rename"
	Path string   // the directory the partner tried to change, or the folder
	Use  []string // without a home: the folders below Path that allow Op
	What string   // "folder" (Path is a folder's root), "holder" (a home directory above folders), "" (virtual)
}

func (e *TreeError) Error() string {
	switch {
	case e.What == "folder":
		return fmt.Sprintf("%s refused: %s is a folder of your account and cannot be changed", e.Op, e.Path)
	case e.What == "holder":
		return fmt.Sprintf("%s refused: %s holds folders of your account and cannot be changed", e.Op, e.Path)
	case len(e.Use) > 0:
		return fmt.Sprintf("%s refused: %s is not a folder; use %s", e.Op, e.Path, strings.Join(e.Use, " or "))
	}
	return fmt.Sprintf("%s refused: %s is not a folder", e.Op, e.Path)
}

// Refuse returns the error for op on the path at pl when the tree forbids
// it: pl is a folder's root or a virtual directory (to remove, rename, or
// write as a file), or lies in no mount (to create); nil when op may go on
// to the mount. need are the permissions op needs, to suggest the folders
// that grant them. Check that a path exists before refusing to remove it.
func (t *Table) Refuse(op string, need auth.Perms, pl Place) error {
	switch {
	case pl.FolderRoot():
		return &TreeError{Op: op, Path: pl.Path, What: "folder"}
	case pl.Mount != nil && pl.Virtual:
		return &TreeError{Op: op, Path: pl.Path, What: "holder"}
	case pl.Mount != nil:
		return nil
	}
	dir := pl.Path
	if !pl.Virtual {
		dir = path.Dir(dir)
	}
	for dir != "/" {
		if p, err := t.Resolve(dir); err == nil && p.Virtual {
			break
		}
		dir = path.Dir(dir)
	}
	e := &TreeError{Op: op, Path: dir}
	for _, f := range t.folders {
		if (dir == "/" || strings.HasPrefix(f.Path, dir+"/")) && f.Perms.Has(need) {
			e.Use = append(e.Use, f.Path)
		}
	}
	return e
}

// TableOf builds t's namespace: its home (if it has one) and its folders,
// names(bucket, prefix) giving each mount's name cipher (nil keeps names
// plain). The cipher is bound to the bucket and prefix, never to the login,
// so a folder shared by two logins reads the same for both.
func TableOf(t *auth.Tenant, names func(bucket, prefix string) *objfmt.Names) (*Table, error) {
	var home *Mount
	if t.Prefix != "" {
		home = &Mount{Bucket: t.Bucket, Prefix: t.Prefix, Perms: t.Perms, Names: names(t.Bucket, t.Prefix), Gates: t.Gates}
	}
	fs := make([]Folder, len(t.Folders))
	for i, f := range t.Folders {
		fs[i] = Folder{Path: f.Path, Mount: Mount{Bucket: f.Bucket, Prefix: f.Prefix, Perms: f.Perms, Names: names(f.Bucket, f.Prefix), Gates: f.Gates, Lifecycle: f.Lifecycle}}
	}
	return NewTable(home, fs)
}

// MoveError refuses a rename from one folder to another that their
// permissions do not allow. Its text is meant for the partner.
type MoveError struct {
	From, To string // the folders' paths
	Missing  string // "read and rename in /inbound", "write in /outbound"
}

func (e *MoveError) Error() string {
	return fmt.Sprintf("rename refused: moving a file from %s to %s needs %s", e.From, e.To, e.Missing)
}

// Move says how a rename of from to to goes. Within one mount it is the
// mount's own rename (cross is false; the mount's permissions apply as for
// any rename). Between two mounts it is a copy and a delete (cross is true):
// the file leaves the source's permissions for the target's, so the source
// must allow read and rename (a write-only drop box does not give its files
// away) and the target write (overwrite too if the name exists: the
// caller's check, as for an upload). Anything else is a *TreeError or a
// *MoveError saying why.
func (t *Table) Move(from, to Place) (cross bool, err error) {
	if err := t.Refuse("rename", auth.PermRename, from); err != nil {
		return false, err
	}
	if err := t.Refuse("rename", auth.PermWrite, to); err != nil {
		return false, err
	}
	if from.Mount == to.Mount {
		return false, nil
	}
	var missing []string
	if need := auth.PermRead | auth.PermRename; !from.Mount.Perms.Has(need) {
		missing = append(missing, fmt.Sprintf("%s in %s", strings.ReplaceAll((need&^from.Mount.Perms).String(), ",", " and "), from.Folder))
	}
	if !to.Mount.Perms.Has(auth.PermWrite) {
		missing = append(missing, "write in "+to.Folder)
	}
	if len(missing) > 0 {
		return false, &MoveError{From: from.Folder, To: to.Folder, Missing: strings.Join(missing, ", and ")}
	}
	return true, nil
}
