package auth

import (
	"fmt"
	"strings"
)

// Perms is a set of operations a tenant may perform.
type Perms uint8

// The permissions of the config's permissions list.
const (
	PermList      Perms = 1 << iota // list directories
	PermRead                        // download files
	PermWrite                       // upload new files
	PermOverwrite                   // upload over an existing file
	PermDelete                      // remove files and empty directories
	PermRename                      // rename files and small directories
	PermMkdir                       // create directories
)

// AllPerms is what a user gets when the config omits permissions.
const AllPerms = PermList | PermRead | PermWrite | PermOverwrite | PermDelete | PermRename | PermMkdir

var permNames = []struct {
	name string
	perm Perms
}{
	{"list", PermList}, {"read", PermRead}, {"write", PermWrite}, {"overwrite", PermOverwrite},
	{"delete", PermDelete}, {"rename", PermRename}, {"mkdir", PermMkdir},
}

// ParsePerms turns config names into a set; nil (omitted) means all.
func ParsePerms(names []string) (Perms, error) {
	if names == nil {
		return AllPerms, nil
	}
	var p Perms
	for _, n := range names {
		found := false
		for _, pn := range permNames {
			if pn.name == n {
				p |= pn.perm
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown permission %q", n)
		}
	}
	return p, nil
}

// Has reports whether every permission in q is in p.
func (p Perms) Has(q Perms) bool { return p&q == q }

// String lists the permission names, for logs.
func (p Perms) String() string {
	var names []string
	for _, pn := range permNames {
		if p.Has(pn.perm) {
			names = append(names, pn.name)
		}
	}
	return strings.Join(names, ",")
}
