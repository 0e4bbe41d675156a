package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/internal/stricttoml"
)

// maxKeysFile bounds what is read of a keys file.
const maxKeysFile = 1 << 20

// minRSABits is the smallest RSA key accepted; server.min_rsa_bits may only
// raise it.
const minRSABits = auth.MinRSABits

// userKeys parses u.Keys and u.KeysFile into u.PublicKeys. The user at
// path needs at least one key, unless its keys file is missing on the
// embedded store (u.MissingKeysFile).
func (l *loader) userKeys(u *User, path string, embedded bool) {
	bad := l.failed[path+".keys"] || l.failed[path+".keys_file"]
	for i, line := range u.Keys {
		key := fmt.Sprintf("%s.keys[%d]", path, i)
		if l.failed[key] {
			bad = true
			continue
		}
		k, err := auth.ParseAuthorizedKey(line, l.minRSABits)
		if err != nil {
			bad = true
			l.errf(key, "%v", err)
			continue
		}
		k.Source = fmt.Sprintf("%s:%d", l.file, l.idx.Find(key).Line)
		u.PublicKeys = append(u.PublicKeys, k)
	}
	if u.KeysFile != "" {
		u.KeysFile = l.resolve(u.KeysFile)
		keys, err := l.keysFile(u.KeysFile)
		switch {
		case errors.Is(err, fs.ErrNotExist) && embedded:
			u.MissingKeysFile = true
		case errors.Is(err, fs.ErrNotExist):
			bad = true
			l.errf(path+".keys_file", "%q does not exist", u.KeysFile)
		case err != nil:
			bad = true
			l.errf(path+".keys_file", "%v", err)
		case keys == nil:
			bad = true // every line had an error, each reported
		}
		u.PublicKeys = append(u.PublicKeys, keys...)
	}
	if len(u.PublicKeys) > 0 || u.MissingKeysFile || bad || !usesKeys(u) {
		return
	}
	if u.KeysFile != "" {
		l.errf(path+".keys_file", "no public keys in %q", u.KeysFile)
		return
	}
	l.msgf(path+".keys", "%s: no public keys: set keys or keys_file", path)
}

// keysFile parses an authorized_keys file, reporting each bad line at its
// own position. It returns a nil slice if any line is bad, else a
// non-nil one.
func (l *loader) keysFile(name string) ([]auth.AuthorizedKey, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeysFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeysFile {
		return nil, fmt.Errorf("%q is larger than %v", name, Size(maxKeysFile))
	}
	keys, bad := auth.ParseAuthorizedKeys(name, data, l.minRSABits)
	for _, b := range bad {
		l.addAt(name, stricttoml.Position{Line: b.Line, Col: b.Col}, "%v", b.Err)
	}
	if bad != nil {
		return nil, nil
	}
	return keys, nil
}

// userCAKeys reads server.trusted_user_ca_keys, once min_rsa_bits is known.
func (l *loader) userCAKeys(s *Server) {
	s.UserCAKeys = nil
	if s.TrustedUserCAKeys == "" {
		return
	}
	s.TrustedUserCAKeys = l.resolve(s.TrustedUserCAKeys)
	keys, err := l.keysFile(s.TrustedUserCAKeys)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.errf("server.trusted_user_ca_keys", "%q does not exist", s.TrustedUserCAKeys)
		return
	case err != nil:
		l.errf("server.trusted_user_ca_keys", "%v", err)
		return
	case keys == nil:
		return // each bad line reported
	case len(keys) == 0:
		l.errf("server.trusted_user_ca_keys", "no public keys in %q", s.TrustedUserCAKeys)
	}
	for _, k := range keys {
		if len(k.Options) > 0 {
			l.errf("server.trusted_user_ca_keys", "%s: options are not supported on CA keys", k.Source)
			continue
		}
		s.UserCAKeys = append(s.UserCAKeys, k.Key)
	}
}
