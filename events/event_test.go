package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/audit"
	"github.com/s3sftpd/s3sftpd/s3fs/pickup"
)

// trailLines writes recs through a real audit.Log (as the gateway does: one
// session for the session records) and returns the lines of its file.
func trailLines(t *testing.T, cfg audit.Config, recs []audit.Record) [][]byte {
	t.Helper()
	if cfg.File == "" {
		cfg.File = filepath.Join(t.TempDir(), "audit.jsonl")
	}
	l, err := audit.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write(t, l, recs...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return readLines(t, cfg.File)
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

func decode(t *testing.T, line []byte) *audit.Record {
	t.Helper()
	var r audit.Record
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// The records below are as s3fs and sftpd write them (s3fs/upload/commit.go,
// s3fs/download/download.go, s3fs/cmd.go, sftpd/audit.go).
var (
	recConnect       = audit.Record{Session: "s1", Event: audit.EventConnect, Result: audit.ResultOK, Remote: "127.0.0.1:50000", Client: "SSH-2.0-OpenSSH_9.2"}
	recAuth          = audit.Record{Session: "s1", Event: audit.EventAuth, User: "acme", Method: "publickey", KeyType: "ssh-ed25519", KeyFP: "SHA256:abc", Result: audit.ResultOK}
	recUpload        = audit.Record{Session: "s1", User: "acme", Event: audit.EventClose, Mode: "write", Path: "/in/a.csv", Bucket: "phi", Key: "partners/acme/in/a.csv", Folder: "/in", Bytes: audit.Int(5), SHA256: "2cf2", ETag: "e1", VersionID: "v1", Result: audit.ResultOK}
	recPending       = audit.Record{Session: "s1", User: "acme", Event: audit.EventClose, Mode: "write", Path: "/a.csv.x.partial", Bucket: "phi", Key: "partners/acme/a.csv.x.partial", Bytes: audit.Int(5), Op: "bytes received, pending: stored by the rename onto the final name", Result: audit.ResultOK}
	recCommit        = audit.Record{Session: "s1", User: "acme", Event: audit.EventRename, Path: "/a.csv.x.partial", Target: "/a.csv", Bucket: "phi", Key: "partners/acme/a.csv.x.partial", TargetKey: "partners/acme/a.csv", Bytes: audit.Int(5), SHA256: "2cf2", VersionID: "v2", Op: "commit pending upload", Result: audit.ResultOK}
	recAborted       = audit.Record{Session: "s1", User: "acme", Event: audit.EventClose, Mode: "write", Path: "/b.csv", Bucket: "phi", Key: "partners/acme/b.csv", Bytes: audit.Int(3), Result: audit.ResultAborted, Error: "upload failed: the connection ended before the file was closed, nothing was stored"}
	recRefused       = audit.Record{Session: "s1", User: "acme", Event: audit.EventOpen, Mode: "write", Path: "/b.csv", Bucket: "phi", Key: "partners/acme/b.csv", Result: audit.ResultDenied, Reason: "permission", Error: "upload refused: overwriting an existing file is not permitted for this user"}
	recOpenOK        = audit.Record{Session: "s1", User: "acme", Event: audit.EventOpen, Mode: "write", Path: "/c.csv", Result: audit.ResultOK}
	recDownload      = audit.Record{Session: "s1", User: "acme", Event: audit.EventClose, Mode: "read", Path: "/a.csv", Bucket: "phi", Key: "partners/acme/a.csv", Bytes: audit.Int(5), SHA256: "2cf2", ETag: "e1", VersionID: "v1", Result: audit.ResultOK}
	recPartial       = audit.Record{Session: "s1", User: "acme", Event: audit.EventClose, Mode: "read", Path: "/a.csv", Bucket: "phi", Key: "partners/acme/a.csv", Bytes: audit.Int(2), Result: audit.ResultOK}
	recRemove        = audit.Record{Session: "s1", User: "acme", Event: audit.EventRemove, Path: "/a.csv", Bucket: "phi", Key: "partners/acme/a.csv", Result: audit.ResultOK}
	recRename        = audit.Record{Session: "s1", User: "acme", Event: audit.EventRename, Path: "/a.csv", Target: "/done/a.csv", Bucket: "phi", Key: "partners/acme/a.csv", TargetKey: "partners/acme/done/a.csv", Result: audit.ResultOK}
	recMkdir         = audit.Record{Session: "s1", User: "acme", Event: audit.EventMkdir, Path: "/done", Bucket: "phi", Key: "partners/acme/done", Result: audit.ResultOK}
	recMkdirNo       = audit.Record{Session: "s1", User: "acme", Event: audit.EventMkdir, Path: "/x", Result: audit.ResultDenied, Reason: "permission", Error: "mkdir refused"}
	recList          = audit.Record{Session: "s1", User: "acme", Event: audit.EventList, Path: "/", Result: audit.ResultOK}
	recPickup        = audit.Record{Session: "s1", User: "acme", Event: TypePickupDelete, Path: "/out/r.pdf", Folder: "/out", Bucket: "phi", Key: "outbound/acme/r.pdf", VersionID: "v9", ETag: "e9", Bytes: audit.Int(7), Result: audit.ResultOK}
	recRetained      = audit.Record{Event: TypeRetentionDelete, User: "acme", Path: "/out/old.pdf", Folder: "/out", Bucket: "phi", Key: "outbound/acme/old.pdf", VersionID: "v3", Bytes: audit.Int(9), Result: audit.ResultOK, Reason: "older than 30d"}
	recWaiting       = audit.Record{Event: TypeNotPickedUp, User: "acme", Path: "/out/new.pdf", Folder: "/out", Bucket: "phi", Key: "outbound/acme/new.pdf", Bytes: audit.Int(4), Result: audit.ResultOK}
	recPickupSkipped = audit.Record{Session: "s1", User: "acme", Event: TypePickupDelete, Path: "/out/r.pdf", Folder: "/out", Bucket: "phi", Key: "outbound/acme/r.pdf", Result: "skipped", Reason: "changed"}
	recDisc          = audit.Record{Session: "s1", Event: audit.EventDisconnect, Result: audit.ResultOK, Reason: "client closed the connection"}
)

func TestEventType_Table(t *testing.T) {
	for _, tt := range []struct {
		name string
		rec  audit.Record
		want string
	}{
		{"connect", recConnect, ""},
		{"auth", recAuth, ""},
		{"upload", recUpload, TypeUpload},
		{"pending-upload-close", recPending, ""},
		{"pending-upload-committed-by-rename", recCommit, TypeUpload},
		{"upload-aborted", recAborted, TypeUploadFailed},
		{"upload-refused-at-open", recRefused, TypeUploadFailed},
		{"open-for-write", recOpenOK, ""},
		{"download-whole", recDownload, TypeDownload},
		{"download-partial", recPartial, ""},
		{"delete", recRemove, TypeDelete},
		{"rename", recRename, TypeRename},
		{"mkdir", recMkdir, TypeMkdir},
		{"mkdir-refused", recMkdirNo, ""},
		{"list", recList, ""},
		{"pickup-delete", recPickup, TypePickupDelete},
		{"retention-delete", recRetained, TypeRetentionDelete},
		{"not-picked-up", recWaiting, TypeNotPickedUp},
		{"pickup-skipped", recPickupSkipped, ""},
		{"disconnect", recDisc, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines := trailLines(t, audit.Config{}, []audit.Record{tt.rec})
			if got := eventType(decode(t, lines[0])); got != tt.want {
				t.Errorf("got type %q; want %q\nline: %s", got, tt.want, lines[0])
			}
		})
	}
}

func TestDerive_Fields(t *testing.T) {
	lines := trailLines(t, audit.Config{}, []audit.Record{recConnect, recAuth, recUpload, recCommit, recRefused, recRename, recRetained, recDisc})
	table := sessions{}
	var got []Event
	for i, line := range lines {
		r := decode(t, line)
		if ev, ok := derive(line, r, table[r.Session]); ok {
			got = append(got, ev)
		}
		table.note(r, uint64(i+1))
	}
	if len(table) != 0 {
		t.Errorf("got %d sessions open after the disconnect; want 0", len(table))
	}
	opts := cmp.Options{cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Time" || p.Last().String() == ".ID" }, cmp.Ignore())}
	want := []Event{
		{Type: TypeUpload, User: "acme", KeyFP: "SHA256:abc", Remote: "127.0.0.1:50000", Session: "s1", Path: "/in/a.csv", Folder: "/in", Bucket: "phi",
			Key: "partners/acme/in/a.csv", VersionID: "v1", Size: audit.Int(5), SHA256: "2cf2", Result: "ok"},
		{Type: TypeUpload, User: "acme", KeyFP: "SHA256:abc", Remote: "127.0.0.1:50000", Session: "s1", Path: "/a.csv", Bucket: "phi",
			Key: "partners/acme/a.csv", VersionID: "v2", Size: audit.Int(5), SHA256: "2cf2", Result: "ok"},
		{Type: TypeUploadFailed, User: "acme", KeyFP: "SHA256:abc", Remote: "127.0.0.1:50000", Session: "s1", Path: "/b.csv", Bucket: "phi",
			Key: "partners/acme/b.csv", Result: "denied", Reason: "upload refused: overwriting an existing file is not permitted for this user"},
		{Type: TypeRename, User: "acme", KeyFP: "SHA256:abc", Remote: "127.0.0.1:50000", Session: "s1", Path: "/a.csv", Bucket: "phi",
			Key: "partners/acme/a.csv", Result: "ok", TargetPath: "/done/a.csv", TargetKey: "partners/acme/done/a.csv"},
		{Type: TypeRetentionDelete, User: "acme", Path: "/out/old.pdf", Folder: "/out", Bucket: "phi", Key: "outbound/acme/old.pdf",
			VersionID: "v3", Size: audit.Int(9), Result: "ok", Reason: "older than 30d"},
	}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got[0].ID != ID(lines[2]) || got[0].Time != decode(t, lines[2]).Time {
		t.Errorf("got id %s, time %v; want the line's hash %s and time", got[0].ID, got[0].Time, ID(lines[2]))
	}
}

// TestDerive_HashedPaths: with paths = "hmac" an event carries the trail's
// keyed hashes, never the name.
func TestDerive_HashedPaths(t *testing.T) {
	key := bytes.Repeat([]byte("k"), 32)
	lines := trailLines(t, audit.Config{HMACKey: key, HashPaths: true}, []audit.Record{recUpload})
	ev, ok := derive(lines[0], decode(t, lines[0]), login{})
	if !ok {
		t.Fatal("got no event for an upload")
	}
	if ev.Path != audit.HashName(key, recUpload.Path) || ev.Key != audit.HashName(key, recUpload.Key) {
		t.Errorf("got path %q, key %q; want the trail's hashes", ev.Path, ev.Key)
	}
	body, _ := json.Marshal(ev)
	if bytes.Contains(body, []byte("a.csv")) {
		t.Errorf("the event names the file: %s", body)
	}
}

func TestID_StableAndDistinct(t *testing.T) {
	lines := trailLines(t, audit.Config{}, []audit.Record{recUpload, recUpload})
	if ID(lines[0]) != ID(bytes.Clone(lines[0])) {
		t.Error("got two ids for one line")
	}
	if ID(lines[0]) == ID(lines[1]) {
		t.Error("got one id for two uploads of the same file: the chain's prev and seq must tell them apart")
	}
	if len(ID(lines[0])) != 64 {
		t.Errorf("got id %q; want 64 hex digits", ID(lines[0]))
	}
}

func TestSessions_Bounded(t *testing.T) {
	s := sessions{}
	for i := range maxSessions + 10 {
		s.note(&audit.Record{Event: audit.EventConnect, Result: audit.ResultOK, Session: string(rune('a'+i%26)) + string(rune(i))}, uint64(i+1))
	}
	if len(s) > maxSessions {
		t.Errorf("got %d sessions; want at most %d", len(s), maxSessions)
	}
	s.note(&audit.Record{Event: audit.EventServerStart}, 1)
	if len(s) != 0 {
		t.Errorf("got %d sessions after a server_start; want 0", len(s))
	}
}

func TestCheckTypes(t *testing.T) {
	if err := CheckTypes(Types()); err != nil {
		t.Errorf("got %v for every type; want nil", err)
	}
	if err := CheckTypes([]string{"upload", "uploads"}); err == nil {
		t.Error(`got nil for "uploads"; want an error`)
	}
}

// TestTypes_NameTheLifecycleRecords: the lifecycle types are the events
// s3fs/pickup writes to the trail.
func TestTypes_NameTheLifecycleRecords(t *testing.T) {
	for got, want := range map[string]string{TypePickupDelete: pickup.EventPickupDelete,
		TypeRetentionDelete: pickup.EventRetentionDelete, TypeNotPickedUp: pickup.EventNotPickedUp} {
		if got != want {
			t.Errorf("got type %q; want the trail's %q", got, want)
		}
	}
}
