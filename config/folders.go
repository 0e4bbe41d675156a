package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/config/tree"
)

// Folder is one [[groups.folders]] or [[users.folders]] table.
type Folder = tree.Folder

// Group is one [[groups]] table: a layout of folders shared by the users
// that name it, "{user}" in a prefix standing for each login name.
type Group = tree.Group

// Mount is one place of a user's resolved tree: the home at "/" or a folder.
type Mount = tree.Mount

// permissions checks a permissions list at table; empty means what omitted
// means otherwise.
func (l *loader) permissions(table string, perms []string, omitted string) {
	if perms != nil && len(perms) == 0 {
		l.errf(table+".permissions", "empty list grants nothing: omit permissions to %s, or list some", omitted)
	}
	for j, p := range perms {
		if elem := fmt.Sprintf("%s.permissions[%d]", table, j); !l.failed[elem] && !slices.Contains(AllPermissions, p) {
			l.errf(elem, "unknown permission %q (want one of %s)", p, strings.Join(AllPermissions, ", "))
		}
	}
}

// folder checks one folder table at key on its own.
func (l *loader) folder(key string, f Folder) {
	l.required(key, "path", f.Path)
	l.required(key, "prefix", f.Prefix)
	if f.Bucket != "" {
		l.bucketName(key+".bucket", f.Bucket)
	}
	l.permissions(key, f.Permissions, "grant the user's permissions")
	l.problems(tree.CheckFolder(key, f))
	l.problems(tree.CheckLifecycle(key, f, f.Permissions))
}

// groups checks the [[groups]] tables.
func (l *loader) groups(groups []Group) {
	first := map[string]int{}
	for i, g := range groups {
		key := fmt.Sprintf("groups[%d]", i)
		if l.failed[key] {
			continue
		}
		if l.required(key, "name", g.Name) {
			if j, dup := first[g.Name]; dup {
				l.errf(key+".name", "duplicate group %q (first at line %d)", g.Name, l.idx.Find(fmt.Sprintf("groups[%d].name", j)).Line)
			} else {
				first[g.Name] = i
			}
		}
		if len(g.Folders) == 0 && !l.failed[key+".folders"] {
			l.errf(key, "has no folders: add [[groups.folders]] tables")
		}
		for j, f := range g.Folders {
			l.folder(fmt.Sprintf("%s.folders[%d]", key, j), f)
		}
		l.problems(tree.CheckGroup(key, g))
	}
}

// trees resolves each user's tree into User.Tree and checks the trees
// against each other.
func (l *loader) trees(cfg *Config) {
	var owners []tree.Owner
	for i := range cfg.Users {
		u := &cfg.Users[i]
		key := fmt.Sprintf("users[%d]", i)
		if l.failed[key] {
			continue
		}
		perms, _ := auth.ParsePerms(u.Permissions) // names are checked apart
		tu := tree.User{Key: key, Name: u.Name, Bucket: bucketOf(*u, cfg.S3), Perms: perms, Groups: u.Groups, Folders: u.Folders,
			Gates: auth.Gates{Scan: u.Scan, PGP: u.PGP, RequireSignature: u.PGPRequireSignature}}
		if homeProblem(u.Home) == "" {
			tu.Home = u.Home
		}
		ms, ps := tree.Resolve(tu, cfg.Groups)
		l.problems(ps)
		if u.Home == "" && len(u.Groups) > 0 && len(u.Folders) == 0 && !slices.ContainsFunc(u.Groups, func(name string) bool {
			i := slices.IndexFunc(cfg.Groups, func(g Group) bool { return g.Name == name })
			return i < 0 || len(cfg.Groups[i].Folders) > 0 // unknown groups are reported apart
		}) {
			l.errf(key, "has no home and its groups have no folders: set home, or name a group with folders")
		}
		for _, m := range ms {
			if !m.Home() && m.Bucket != tu.Bucket && u.RoleARN != "" && strings.HasSuffix(m.Bucket, "-s3alias") {
				l.errf(key+".role_arn", "cannot scope a session policy to the access point alias of the folder %s: use the access point ARN as its bucket", m.Path)
			}
		}
		u.Tree = ms
		owners = append(owners, tree.Owner{Index: i, Name: u.Name, Mounts: ms})
	}
	l.problems(tree.Overlaps(owners))
}

// problems records tree's problems, except at keys whose value could not
// be decoded (reported already).
func (l *loader) problems(ps []tree.Problem) {
	for _, p := range ps {
		if !l.failed[p.Key] {
			l.errf(p.Key, "%s", p.Msg)
		}
	}
}
