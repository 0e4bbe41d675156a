package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/s3sftpd/s3sftpd"

// Every rule of the redesign (issue 17) is checked here, the line budget
// included: it holds for every package (s3fs came under it once the upload,
// the download, the data keys, the envelope policy, the kept times and the
// error boundary became packages under it and the operator tools went to
// ops).

// pkg is the part of `go list -json` the rules read.
type pkg struct {
	ImportPath   string
	Dir          string
	GoFiles      []string
	Imports      []string // direct, non-test
	Deps         []string // transitive, non-test
	TestImports  []string
	XTestImports []string
}

// short is a package's path inside the module ("s3fs", "cmd/s3sftpd").
func (p pkg) short() string { return strings.TrimPrefix(p.ImportPath, module+"/") }

// underCmd reports whether the package is a command, the only place where
// the packages meet.
func (p pkg) underCmd() bool { return strings.HasPrefix(p.short(), "cmd/") }

// goList runs `go list` over the module once for all the tests.
var goList = sync.OnceValues(func() ([]pkg, error) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Dir,GoFiles,Imports,Deps,TestImports,XTestImports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
})

func list(t *testing.T) []pkg {
	t.Helper()
	pkgs, err := goList()
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; want the whole module", len(pkgs))
	}
	return pkgs
}

func find(t *testing.T, pkgs []pkg, short string) pkg {
	t.Helper()
	for _, p := range pkgs {
		if p.short() == short {
			return p
		}
	}
	t.Fatalf("package %s not found", short)
	return pkg{}
}

func TestImports_SftpdNeverReachesS3fs(t *testing.T) {
	sftpd := find(t, list(t), "sftpd")
	if slices.Contains(sftpd.Deps, module+"/s3fs") {
		t.Errorf("sftpd depends on s3fs; they meet only in cmd (sftpd takes a handler factory)")
	}
}

func TestImports_OnlyCmdImportsConfig(t *testing.T) {
	for _, p := range list(t) {
		if p.underCmd() || p.short() == "config" {
			continue
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			if imp == module+"/config" {
				t.Errorf("%s imports config; only cmd reads the config and hands the other packages plain values", p.short())
			}
		}
	}
}

// TestImports_NothingImportsCmd: Go refuses to import a main package, so
// this guards against cmd growing an importable package of its own.
func TestImports_NothingImportsCmd(t *testing.T) {
	for _, p := range list(t) {
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			if strings.HasPrefix(imp, module+"/cmd/") && imp != p.ImportPath {
				t.Errorf("%s imports %s; nothing imports a command", p.short(), imp)
			}
		}
	}
}

func TestImports_AuditIsALeaf(t *testing.T) {
	audit := find(t, list(t), "audit")
	for _, banned := range []string{"sftpd", "s3fs", "auth"} {
		if slices.Contains(audit.Deps, module+"/"+banned) {
			t.Errorf("audit depends on %s; audit must import none of sftpd, s3fs, auth", banned)
		}
	}
}

func TestImports_OnlyCmdWiresTheTryoutStore(t *testing.T) {
	for _, p := range list(t) {
		if !p.underCmd() && slices.Contains(p.Imports, module+"/internal/tryout") {
			t.Errorf("%s imports internal/tryout; only cmd wires the try-out store (tests may start it)", p.short())
		}
	}
}

// TestImports_OnlyTheTryoutStoreLinksGofakes3 keeps gofakes3, bbolt and
// bson out of every package that serves partners: only internal/tryout, and
// the commands that wire it, depend on them.
func TestImports_OnlyTheTryoutStoreLinksGofakes3(t *testing.T) {
	fakeStore := []string{"github.com/johannesboyne/gofakes3", "go.etcd.io/bbolt", "gopkg.in/mgo.v2/bson"}
	for _, p := range list(t) {
		if p.underCmd() || p.short() == "internal/tryout" {
			continue
		}
		for _, f := range fakeStore {
			if slices.ContainsFunc(p.Deps, func(dep string) bool { return dep == f || strings.HasPrefix(dep, f+"/") }) {
				t.Errorf("%s depends on %s; only internal/tryout may link the try-out store's code", p.short(), f)
			}
		}
	}
}

// sdkImporters are the packages that may import aws-sdk-go-v2/service/*
// outside tests: store, which owns every client; doctor's read-only checks
// and the test helpers; bench/s3direct, the baseline that calls S3
// without the gateway (it dials through store, so both share transport and
// retries); and events/sns, the SNS event sink, whose one client publishes
// and touches no object.
var sdkImporters = []string{
	"store",
	"doctor",
	"internal/s3test",
	"bench/s3direct",
	"events/sns",
}

func TestImports_NoNewImporterOfTheAWSSDK(t *testing.T) {
	for _, p := range list(t) {
		if slices.Contains(sdkImporters, p.short()) {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/aws/aws-sdk-go-v2/service/") {
				t.Errorf("%s imports %s; only store (and doctor, and test helpers) may call AWS", p.short(), imp)
			}
		}
	}
}

// TestImports_CmdImportsNoSDK: a command is wiring, so it reaches AWS only
// through store (and doctor) and imports nothing of the SDK, not even
// aws-sdk-go-v2/aws or smithy-go; bench/s3direct, the SDK baseline, is
// not a command of the gateway.
func TestImports_CmdImportsNoSDK(t *testing.T) {
	for _, p := range list(t) {
		if !p.underCmd() {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/aws/") {
				t.Errorf("%s imports %s; a command reaches AWS only through store", p.short(), imp)
			}
		}
	}
}

// TestImports_OpsImportsNoSDK: the operator tools reach S3 through store's
// plain methods and s3fs's object-format methods, never the SDK.
func TestImports_OpsImportsNoSDK(t *testing.T) {
	ops := find(t, list(t), "ops")
	for _, imp := range ops.Imports {
		if strings.HasPrefix(imp, "github.com/aws/") {
			t.Errorf("ops imports %s; the operator tools reach AWS only through store", imp)
		}
	}
}

// TestImports_S3fsImportsNoSDK: s3fs and every package under it (the
// upload and download pipelines) reach S3, KMS and STS only through store's
// own types (store.Objects, store.KMSClient), so they import nothing of the
// SDK outside tests: not aws-sdk-go-v2/aws, not smithy-go. Their tests may,
// to see what S3 really holds.
func TestImports_S3fsImportsNoSDK(t *testing.T) {
	for _, p := range list(t) {
		if p.short() != "s3fs" && !strings.HasPrefix(p.short(), "s3fs/") {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/aws/") {
				t.Errorf("%s imports %s; s3fs reaches AWS only through store's types", p.short(), imp)
			}
		}
	}
}

// lineBudget is the most lines of non-test Go a package holds: past it a
// package has more than one job.
const lineBudget = 2000

func TestPackages_WithinLineBudget(t *testing.T) {
	for _, p := range list(t) {
		lines := 0
		for _, f := range p.GoFiles {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			lines += bytes.Count(b, []byte("\n"))
		}
		if lines > lineBudget {
			t.Errorf("%s: %d lines of non-test Go; want at most %d (split it by concern)", p.short(), lines, lineBudget)
		}
	}
}

// TestImports_VfsKnowsNothingOfS3OrSFTP: the namespace (and the jail in
// it) is plain path logic, which s3fs asks where a path leads; it must not
// grow S3 calls or protocol handling of its own.
func TestImports_VfsKnowsNothingOfS3OrSFTP(t *testing.T) {
	vfs := find(t, list(t), "vfs")
	for _, dep := range vfs.Deps {
		if strings.HasPrefix(dep, "github.com/aws/") || strings.HasPrefix(dep, "github.com/pkg/sftp") ||
			dep == module+"/s3fs" || dep == module+"/sftpd" {
			t.Errorf("vfs depends on %s; it maps paths to mounts and keys, and knows nothing of S3 or SFTP", dep)
		}
	}
}

// TestPackages_UploadTypeInTwoFiles: the methods of s3fs/upload's *Upload
// live in at most two files (upload.go, commit.go), so one upload reads in
// one place, as a download does in download.go.
func TestPackages_UploadTypeInTwoFiles(t *testing.T) {
	up := find(t, list(t), "s3fs/upload")
	fset := token.NewFileSet()
	files := map[string]bool{}
	for _, name := range up.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(up.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) == 0 {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
				if id, ok := star.X.(*ast.Ident); ok && id.Name == "Upload" {
					files[name] = true
				}
			}
		}
	}
	if len(files) == 0 || len(files) > 2 {
		t.Errorf("*Upload methods are in %d files %v; want at most two", len(files), slices.Sorted(maps.Keys(files)))
	}
}

// TestImports_S3fsPartsNeverReachS3fs: the packages under s3fs (the upload
// pipeline, the download, the data keys, the kept times, the error
// boundary) are what the handlers call, so they take what they need of a
// session as plain values and small interfaces, and never import s3fs
// back, not even in their tests.
func TestImports_S3fsPartsNeverReachS3fs(t *testing.T) {
	parts := 0
	for _, p := range list(t) {
		if !strings.HasPrefix(p.short(), "s3fs/") {
			continue
		}
		parts++
		for _, imp := range slices.Concat(p.Deps, p.TestImports, p.XTestImports) {
			if imp == module+"/s3fs" {
				t.Errorf("%s depends on s3fs; s3fs imports it, never the other way", p.short())
			}
		}
	}
	if parts < 3 {
		t.Errorf("found %d packages under s3fs; want s3fs/upload, s3fs/download and s3fs/datakey at least", parts)
	}
}

// TestImports_ObjfmtCallsNothing: the object format is pure functions over
// bytes and metadata, which s3fs and the operator tools share; the calls
// that store and read objects stay in store and s3fs, so objfmt must not
// grow S3 calls, SFTP handling, or a way back into the packages that use it.
func TestImports_ObjfmtCallsNothing(t *testing.T) {
	objfmt := find(t, list(t), "objfmt")
	for _, dep := range objfmt.Deps {
		if strings.HasPrefix(dep, "github.com/aws/") || strings.HasPrefix(dep, "github.com/pkg/sftp") ||
			dep == module+"/s3fs" || dep == module+"/store" || dep == module+"/sftpd" {
			t.Errorf("objfmt depends on %s; the object format calls nothing (store and s3fs do the I/O)", dep)
		}
	}
}
