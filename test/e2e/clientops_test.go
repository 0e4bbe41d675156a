package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3sftpd/s3sftpd/internal/s3test"
)

// TestClients runs the compatibility matrix (clients_test.go) once per client.
func TestClients(t *testing.T) {
	s3srv := s3test.Start(t)
	g := startGateway(t, s3srv, gatewayOpts{})
	for _, c := range []struct {
		name string
		ops  func(*testing.T, *gateway) clientOps
	}{
		{"psftp", psftpOps},
		{"lftp", lftpOps},
		{"curl", curlOps},
		{"paramiko", paramikoOps},
		{"rclone", rcloneOps},
		{"openssh", opensshOps},
	} {
		t.Run(c.name, func(t *testing.T) { runMatrix(t, s3srv, c.name, c.ops(t, g)) })
	}
}

// psftpOps drives PuTTY's psftp in batch mode, the SFTP engine WinSCP is
// built on. PuTTY reads only its own key format: puttygen converts.
func psftpOps(t *testing.T, g *gateway) clientOps {
	dir := t.TempDir()
	ppk := puttyKey(t)
	batch := func(cmds string) (string, error) {
		script := filepath.Join(dir, "batch")
		if err := os.WriteFile(script, []byte(cmds+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return runClient(dir, nil, "psftp", "-batch", "-b", script, "-P", g.port, "-i", ppk,
			"-hostkey", "SHA256:"+g.hostKeySHA256(t), "acme@127.0.0.1")
	}
	two := func(verb string) func(a, b string) (string, error) {
		return func(a, b string) (string, error) { return batch(verb + " " + quote(a) + " " + quote(b)) }
	}
	one := func(verb string) func(a string) (string, error) {
		return func(a string) (string, error) { return batch(verb + " " + quote(a)) }
	}
	pscpKeepTime := func(l, r string) (string, error) { // pscp, PuTTY's scp, in its SFTP mode
		return runClient(dir, nil, "pscp", "-batch", "-sftp", "-p", "-P", g.port, "-i", ppk,
			"-hostkey", "SHA256:"+g.hostKeySHA256(t), l, "acme@127.0.0.1:"+r)
	}
	return clientOps{
		put: two("put"), get: two("get"), resumeGet: two("reget"), resumePut: two("reput"), list: one("ls"),
		rename: two("mv"), plainRename: "renamed.bin: failure", mkdir: one("mkdir"), rmdir: one("rmdir"), remove: one("rm"),
		putKeepTime: pscpKeepTime,
	}
}

// puttyKey converts the ed25519 client key to PuTTY's .ppk format.
func puttyKey(t *testing.T) string {
	ppk := filepath.Join(t.TempDir(), "id.ppk")
	if out, err := runClient(t.TempDir(), nil, "puttygen", clientKeys["ed25519"], "-O", "private", "-o", ppk); err != nil {
		t.Fatalf("puttygen (install putty-tools): %v\n%s", err, out)
	}
	return ppk
}

// lftpOps drives lftp over sftp://, which runs OpenSSH's ssh for transport.
func lftpOps(t *testing.T, g *gateway) clientOps {
	dir := t.TempDir()
	ssh := "ssh -a -x " + strings.Join(g.sshOpts(clientKeys["ed25519"]), " ")
	cmd := func(cmds string) (string, error) {
		script := fmt.Sprintf("set cmd:fail-exit yes; set sftp:connect-program %s; set net:max-retries 1; open -u acme,unused -p %s sftp://127.0.0.1; %s",
			quote(ssh), g.port, cmds)
		return runClient(dir, nil, "lftp", "-c", script)
	}
	return clientOps{
		put:         func(l, r string) (string, error) { return cmd("put " + quote(l) + " -o " + quote(r)) },
		get:         func(r, l string) (string, error) { return cmd("get " + quote(r) + " -o " + quote(l)) },
		resumeGet:   func(r, l string) (string, error) { return cmd("get -c " + quote(r) + " -o " + quote(l)) },
		resumePut:   func(l, r string) (string, error) { return cmd("put -c " + quote(l) + " -o " + quote(r)) },
		list:        func(d string) (string, error) { return cmd("cls -l " + quote(d+"/")) },
		rename:      func(a, b string) (string, error) { return cmd("mv " + quote(a) + " " + quote(b)) },
		plainRename: "delete the target first, or use posix-rename",
		mkdir:       func(d string) (string, error) { return cmd("mkdir " + quote(d)) },
		rmdir:       func(d string) (string, error) { return cmd("rmdir " + quote(d)) },
		remove:      func(p string) (string, error) { return cmd("rm " + quote(p)) },
		putKeepTime: func(l, r string) (string, error) { // mirror -R sets the times it copies
			return cmd("mirror -R -f " + quote(l) + " -O " + quote(path.Dir(r)))
		},
		big: true,
		extra: func(t *testing.T, s3srv *s3test.Server, dir, home string) {
			src, back := t.TempDir(), t.TempDir()
			files := treeFiles(t, src)
			if out, err := cmd("mirror -R " + quote(src) + " " + quote(dir+"/tree")); err != nil {
				t.Fatalf("mirror -R: %v\n%s", err, out)
			}
			wantObjects(t, s3srv, home+"tree/", treeObjects(home, "tree", files, "", "sub dir/"))
			if out, err := cmd("mirror " + quote(dir+"/tree") + " " + quote(back)); err != nil {
				t.Fatalf("mirror: %v\n%s", err, out)
			}
			sameTree(t, back, files)
			if out, err := cmd("rm -r " + quote(dir+"/tree")); err != nil {
				t.Fatalf("rm -r: %v\n%s", err, out)
			}
		},
	}
}

// curlOps drives curl's sftp:// (libssh2), pinning the host key.
func curlOps(t *testing.T, g *gateway) clientOps {
	dir := t.TempDir()
	key := clientKeys["ed25519"]
	curl := func(args ...string) (string, error) {
		base := []string{"-sS", "--fail", "-u", "acme:", "--key", key, "--pubkey", key + ".pub",
			"--hostpubsha256", g.hostKeySHA256(t) + "="}
		return runClient(dir, nil, "curl", append(base, args...)...)
	}
	u := func(p string) string { return "sftp://127.0.0.1:" + g.port + (&url.URL{Path: p}).EscapedPath() }
	quoteCmd := func(cmd string) (string, error) { return curl("-Q", cmd, u("/")) }
	return clientOps{
		put:         func(l, r string) (string, error) { return curl("-T", l, u(r)) },
		get:         func(r, l string) (string, error) { return curl("-o", l, u(r)) },
		resumeGet:   func(r, l string) (string, error) { return curl("-C", "-", "-o", l, u(r)) },
		list:        func(d string) (string, error) { return curl(u(d + "/")) },
		rename:      func(a, b string) (string, error) { return quoteCmd("rename " + quote(a) + " " + quote(b)) },
		plainRename: "rename command failed", // libssh2 shows no server message
		mkdir:       func(d string) (string, error) { return quoteCmd("mkdir " + quote(d)) },
		rmdir:       func(d string) (string, error) { return quoteCmd("rmdir " + quote(d)) },
		remove:      func(p string) (string, error) { return quoteCmd("rm " + quote(p)) },
		big:         true,
	}
}

// paramikoOp runs one operation of testdata/paramiko_op.py as acme.
func paramikoOp(t *testing.T, g *gateway) func(args ...string) (string, error) {
	dir := t.TempDir()
	script, err := filepath.Abs("testdata/paramiko_op.py")
	if err != nil {
		t.Fatal(err)
	}
	known := g.knownHosts(t)
	return func(args ...string) (string, error) {
		base := []string{script, "127.0.0.1", g.port, "acme", clientKeys["ed25519"], known}
		return runClient(dir, nil, "/usr/bin/python3", append(base, args...)...)
	}
}

// paramikoOps drives python3-paramiko through testdata/paramiko_op.py, one
// connection per operation.
func paramikoOps(t *testing.T, g *gateway) clientOps {
	op := paramikoOp(t, g)
	two := func(verb string) func(a, b string) (string, error) {
		return func(a, b string) (string, error) { return op(verb, a, b) }
	}
	one := func(verb string) func(a string) (string, error) {
		return func(a string) (string, error) { return op(verb, a) }
	}
	return clientOps{
		put: two("put"), get: two("get"), list: one("listdir_attr"),
		rename: two("posix_rename"), mkdir: one("mkdir"), rmdir: one("rmdir"), remove: one("remove"),
		putKeepTime: func(l, r string) (string, error) { // put, then utime to the local file's times
			fi, err := os.Stat(l)
			if err != nil {
				return "", err
			}
			if out, err := op("put", l, r); err != nil {
				return out, err
			}
			return op("utime", r, fmt.Sprint(fi.ModTime().Unix()))
		},
		extra: func(t *testing.T, s3srv *s3test.Server, dir, home string) {
			must := func(args ...string) string {
				t.Helper()
				out, err := op(args...)
				if err != nil {
					t.Fatalf("paramiko %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			local := filepath.Join(t.TempDir(), "fo.bin")
			data := writeRandom(t, local, 6<<20+5)
			must("putfo", local, dir+"/fo.bin") // putfo(confirm=True) stats the result
			if out := must("stat", dir+"/fo.bin"); !strings.HasPrefix(out, fmt.Sprintf("%d ", len(data))) {
				t.Errorf("stat = %q; want size %d first", out, len(data))
			}
			must("chmod", dir+"/fo.bin", "600") // accepted, changes nothing
			must("utime", dir+"/fo.bin", "981173106")
			must("rename", dir+"/fo.bin", dir+"/fo2.bin")
			if out := must("stat", dir+"/fo2.bin"); out != fmt.Sprintf("%d 981173106 100644\n", len(data)) {
				t.Errorf("stat after utime, chmod and rename = %q; want size, the time set and mode 644", out)
			}
			wantObjects(t, s3srv, home+"fo", map[string][]byte{home + "fo2.bin": data})
			must("remove", dir+"/fo2.bin")

			// raw opens and both renames, in two sessions: "OK op" or "ERR op: message" per step
			out := must("batch", "open_write", "w", dir+"/x.txt", "first",
				";", "open_write", "wx", dir+"/x.txt", "second", // exclusive create of an existing file
				";", "open_write", "wx", dir+"/y.txt", "new",
				";", "open_write", "a", dir+"/log.txt", "line 1\n", // append to a new name: a create
				";", "open_write", "a", dir+"/log.txt", "line 2\n",
				";", "rename", dir+"/y.txt", dir+"/x.txt") // plain rename onto an existing file
			wantSteps := []string{"OK open_write", "ERR open_write: upload refused: file exists",
				"OK open_write", "OK open_write", "ERR open_write: upload refused: appending to a file is not supported",
				"ERR rename: rename refused: target exists, and a plain rename never replaces a file; delete the target first, or use posix-rename"}
			if steps := strings.Split(strings.TrimSpace(out), "\n"); len(steps) != len(wantSteps) {
				t.Errorf("paramiko batch printed %q; want %d steps", out, len(wantSteps))
			} else {
				for i, w := range wantSteps {
					if !strings.HasPrefix(steps[i], w) {
						t.Errorf("paramiko step %d = %q; want %q", i+1, steps[i], w)
					}
				}
			}
			for key, want := range map[string]string{"x.txt": "first", "y.txt": "new", "log.txt": "line 1\n"} {
				wantObjects(t, s3srv, home+key, map[string][]byte{home + key: []byte(want)})
			}
			must("batch", "posix_rename", dir+"/y.txt", dir+"/x.txt", ";", "remove", dir+"/log.txt")
			wantObjects(t, s3srv, home+"x.txt", map[string][]byte{home + "x.txt": []byte("new")})
			wantObjects(t, s3srv, home+"y.txt", map[string][]byte{})
			must("remove", dir+"/x.txt")
		},
	}
}

// rcloneOps drives rclone's sftp backend with its defaults, configured
// through the environment, with the host key pinned. rclone probes for a
// shell to run md5sum/sha1sum; the gateway refuses exec, so rclone works
// without hashes (check compares sizes, or bytes with --download).
func rcloneOps(t *testing.T, g *gateway) clientOps {
	dir := t.TempDir()
	env := []string{"RCLONE_CONFIG_GW_TYPE=sftp", "RCLONE_CONFIG_GW_HOST=127.0.0.1", "RCLONE_CONFIG_GW_PORT=" + g.port,
		"RCLONE_CONFIG_GW_USER=acme", "RCLONE_CONFIG_GW_KEY_FILE=" + clientKeys["ed25519"],
		"RCLONE_CONFIG_GW_KNOWN_HOSTS_FILE=" + g.knownHosts(t),
		"RCLONE_CONFIG=" + filepath.Join(dir, "rclone.conf")}
	rc := func(args ...string) (string, error) {
		return runClient(dir, env, "rclone", append([]string{"--retries", "1", "--low-level-retries", "1"}, args...)...)
	}
	return clientOps{
		put:         func(l, r string) (string, error) { return rc("copyto", l, "gw:"+r) },
		get:         func(r, l string) (string, error) { return rc("copyto", "gw:"+r, l) },
		list:        func(d string) (string, error) { return rc("lsl", "gw:"+d) },
		entries:     func(d string) (string, error) { return rc("lsf", "gw:"+d) },
		rename:      func(a, b string) (string, error) { return rc("moveto", "gw:"+a, "gw:"+b) },
		mkdir:       func(d string) (string, error) { return rc("mkdir", "gw:"+d) },
		rmdir:       func(d string) (string, error) { return rc("rmdir", "gw:"+d) },
		remove:      func(p string) (string, error) { return rc("deletefile", "gw:"+p) },
		putKeepTime: func(l, r string) (string, error) { return rc("copyto", l, "gw:"+r) }, // rclone sets modtimes
		extra: func(t *testing.T, s3srv *s3test.Server, dir, home string) {
			src, back := t.TempDir(), t.TempDir()
			files := treeFiles(t, src)
			must := func(args ...string) string {
				t.Helper()
				out, err := rc(args...)
				if err != nil {
					t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			remote := "gw:" + dir + "/tree"
			must("copy", src, remote)
			wantObjects(t, s3srv, home+"tree/", treeObjects(home, "tree", files, "", "sub dir/"))
			must("check", src, remote)
			must("check", "--download", src, remote)
			out := must("lsl", remote)
			for name, data := range files {
				if !listed(out, name, len(data)) {
					t.Errorf("rclone lsl does not show %s with size %d:\n%s", name, len(data), out)
				}
			}
			os.Remove(filepath.Join(src, "a.txt"))
			delete(files, "a.txt")
			files["new.txt"] = writeRandom(t, filepath.Join(src, "new.txt"), 77)
			must("sync", src, remote)
			wantObjects(t, s3srv, home+"tree/", treeObjects(home, "tree", files, "", "sub dir/"))
			must("copy", remote, back)
			sameTree(t, back, files)
			must("purge", remote)
		},
	}
}

// opensshOps drives OpenSSH sftp in batch mode (its glob-aware quoting:
// backslash before the characters it treats specially).
func opensshOps(t *testing.T, g *gateway) clientOps {
	dir := t.TempDir()
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(s) + `"`
	}
	batch := func(cmd string) (string, error) { return g.sftp(t, dir, "acme", clientKeys["ed25519"], cmd+"\n") }
	two := func(verb string) func(a, b string) (string, error) {
		return func(a, b string) (string, error) { return batch(verb + " " + q(a) + " " + q(b)) }
	}
	one := func(verb string) func(a string) (string, error) {
		return func(a string) (string, error) { return batch(verb + " " + q(a)) }
	}
	return clientOps{
		put: two("put"), get: two("get"), resumeGet: two("reget"), list: func(d string) (string, error) { return batch("ls -l " + q(d)) },
		rename: two("rename"), mkdir: one("mkdir"), rmdir: one("rmdir"), remove: one("rm"),
		putKeepTime: func(l, r string) (string, error) { return batch("put -p " + q(l) + " " + q(r)) },
		extra: func(t *testing.T, s3srv *s3test.Server, dir, home string) { // scp -p both ways
			mtime := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
			local := filepath.Join(t.TempDir(), "scp.bin")
			data := writeRandom(t, local, 6<<20+1)
			os.Chtimes(local, mtime, mtime)
			key := clientKeys["ed25519"]
			if out, err := g.scp(t, t.TempDir(), key, "-p", local, "acme@127.0.0.1:"+dir+"/scp.bin"); err != nil {
				t.Fatalf("scp -p upload: %v\n%s", err, out)
			}
			back := filepath.Join(t.TempDir(), "back.bin")
			if out, err := g.scp(t, t.TempDir(), key, "-p", "acme@127.0.0.1:"+dir+"/scp.bin", back); err != nil {
				t.Fatalf("scp -p download: %v\n%s", err, out)
			}
			sameFile(t, back, data)
			if fi, err := os.Stat(back); err != nil || !fi.ModTime().Equal(mtime) {
				t.Errorf("scp -p download has mtime %v; want the %v given at upload", fi.ModTime(), mtime)
			}
			if out, err := batch("rm " + q(dir+"/scp.bin")); err != nil {
				t.Fatalf("rm: %v\n%s", err, out)
			}
		},
	}
}

// treeFiles writes a small tree (a subdirectory, names with spaces, NFD and
// #%&+) under dir and returns its files by slash path.
func treeFiles(t *testing.T, dir string) map[string][]byte {
	files := map[string][]byte{}
	for _, f := range []struct {
		name string
		size int64
	}{{"a.txt", 10}, {"sub dir/b #%&+.bin", 6<<20 + 9}, {"sub dir/cafe\u0301.txt", 0}} {
		path := filepath.Join(dir, filepath.FromSlash(f.name))
		os.MkdirAll(filepath.Dir(path), 0o755)
		files[f.name] = writeRandom(t, path, f.size)
	}
	return files
}

// sameTree fails unless dir holds exactly files.
func sameTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if n != len(files) {
		t.Errorf("%s holds %d files; want %d", dir, n, len(files))
	}
	for name, data := range files {
		sameFile(t, filepath.Join(dir, filepath.FromSlash(name)), data)
	}
}

// treeObjects is want for a tree uploaded under home+sub.
func treeObjects(home, sub string, files map[string][]byte, markers ...string) map[string][]byte {
	want := map[string][]byte{}
	for name, data := range files {
		want[home+sub+"/"+name] = data
	}
	for _, m := range markers {
		want[home+sub+"/"+m] = nil
	}
	return want
}
