package s3fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/s3fs/upload"
)

// judge is a stage as the content gates of issue 21 will be: it sees every
// byte in order, and refuses the file at Finish (veto) or fails on a byte
// (failAt, with a cause that must not reach the partner).
type judge struct {
	seen    int64
	veto    bool
	failAt  int64 // fail the Write that holds this offset; -1: never
	aborted bool
}

func (j *judge) Write(p []byte, _ bool) ([]byte, error) {
	if j.failAt >= j.seen && j.failAt < j.seen+int64(len(p)) {
		return nil, errors.New("scanner at 10.1.2.3:3310 answered garbage")
	}
	j.seen += int64(len(p))
	return p, nil
}

func (j *judge) Finish() error {
	if j.veto {
		return &upload.Refusal{Reason: "upload refused: the file contains malware (Test-Signature)"}
	}
	return nil
}

func (j *judge) Abort() { j.aborted = true }

// TestUpload_StageRefusalAbortsAndKeepsThePrevious: a stage that refuses
// the file at Finish, or fails on its bytes, gets an aborted upload: the
// client reads the refusal (or a plain failure, never the stage's own
// cause), the previous object stays, and no multipart upload is left.
func TestUpload_StageRefusalAbortsAndKeepsThePrevious(t *testing.T) {
	old := []byte("previous version")
	tests := []struct {
		name     string
		envelope bool
		size     int
		judge    judge
		want     string
	}{
		{"veto-single-put", false, 1000, judge{veto: true, failAt: -1}, "malware (Test-Signature)"},
		{"veto-multipart", false, 18 << 20, judge{veto: true, failAt: -1}, "malware (Test-Signature)"},
		{"veto-multipart-envelope", true, 18 << 20, judge{veto: true, failAt: -1}, "malware (Test-Signature)"},
		{"fails-in-a-part", false, 18 << 20, judge{failAt: 6 << 20}, "could not be processed"},
		{"fails-single-put", false, 1000, judge{failAt: 10}, "could not be processed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ChecksumsCompat)
			if tt.envelope {
				e, _ = newEnvelopeEnv(t)
			}
			e.s3.Put(t, "u/f.bin", old)
			u := openUpload(t, e, context.Background(), "/f.bin")
			j := tt.judge
			u.AddStage(&j) // after the seal under envelope: it sees what is stored
			data := randBytes(tt.size)
			for off := 0; off < len(data); off += 32 << 10 {
				if _, err := u.WriteAt(data[off:min(off+32<<10, len(data))], int64(off)); err != nil {
					break // a failed stage may already refuse writes
				}
			}
			err := u.Close()
			if err == nil {
				t.Fatalf("Close = nil; want the stage's refusal")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "10.1.2.3") {
				t.Errorf("Close = %q; want a message with %q and without the stage's cause", err, tt.want)
			}
			if tt.judge.veto && j.seen < int64(tt.size) {
				t.Errorf("stage saw %d bytes before its verdict; want all %d", j.seen, tt.size)
			}
			if !j.aborted {
				t.Errorf("stage not told of the abort")
			}
			if got, _ := e.s3.Get(t, "u/f.bin"); !bytes.Equal(got, old) {
				t.Errorf("object = %d bytes; want the previous version untouched", len(got))
			}
			if keys := e.s3.Keys(t, "u/"); len(keys) != 1 {
				t.Errorf("keys = %v; want only the previous object", keys)
			}
			if ups := e.s3.MultipartUploads(t); len(ups) != 0 {
				t.Errorf("multipart uploads left: %v; want all aborted", ups)
			}
			if n := e.fs.UploadMemoryInUse(); n != 0 {
				t.Errorf("UploadMemoryInUse = %d after Close; want 0", n)
			}
		})
	}
}

// invert passes on other bytes than it gets (each byte inverted, in place),
// as OpenPGP decryption will.
type invert struct{}

func (invert) Write(p []byte, _ bool) ([]byte, error) {
	for i := range p {
		p[i] = ^p[i]
	}
	return p, nil
}
func (invert) Finish() error { return nil }
func (invert) Abort()        {}

// TestUpload_StageOutputIsWhatIsStored: what the last stage passes on, not
// what the client sent, goes to S3, in one put or in parts; the SHA-256 in
// the close record is of what the client sent (the first stage's view).
func TestUpload_StageOutputIsWhatIsStored(t *testing.T) {
	for _, size := range []int{1000, 18<<20 + 5} {
		e := newEnv(t, ChecksumsAWS)
		u := openUpload(t, e, context.Background(), "/f.bin")
		u.AddStage(invert{})
		data := randBytes(size)
		for off := 0; off < len(data); off += 32 << 10 {
			if _, err := u.WriteAt(data[off:min(off+32<<10, len(data))], int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		if err := u.Close(); err != nil {
			t.Fatalf("Close (%d bytes): %v", size, err)
		}
		want := bytes.Clone(data)
		invert{}.Write(want, true)
		if got, _ := e.s3.Get(t, "u/f.bin"); !bytes.Equal(got, want) {
			t.Errorf("stored %d bytes; want the stage's output of %d", len(got), len(want))
		}
		if sum := sha256.Sum256(data); u.SHA256() != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA-256 = %s; want the client's bytes' %x", u.SHA256(), sum)
		}
	}
}

// trailer hands on bytes of its own at the end, as a stage that holds bytes
// back (OpenPGP decryption) hands them on with the last Write.
type trailer struct{ lasts int }

func (s *trailer) Write(p []byte, last bool) ([]byte, error) {
	if !last {
		return p, nil
	}
	s.lasts++
	return append(p, "END"...), nil
}
func (*trailer) Finish() error { return nil }
func (*trailer) Abort()        {}

// TestUpload_StagesSeeTheEndOnAPartBoundary: the stages' last Write comes
// even for a file that ends where a part ends, and what they pass on then is
// stored after the file's bytes.
func TestUpload_StagesSeeTheEndOnAPartBoundary(t *testing.T) {
	for _, size := range []int{1000, 2 * minPartSize, 2*minPartSize + 1} {
		e := newEnv(t, ChecksumsAWS)
		u := openUpload(t, e, context.Background(), "/f.bin")
		tr := &trailer{}
		u.AddStage(tr)
		data := randBytes(size)
		for off := 0; off < len(data); off += 32 << 10 {
			if _, err := u.WriteAt(data[off:min(off+32<<10, len(data))], int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		if err := u.Close(); err != nil {
			t.Fatalf("Close (%d bytes): %v", size, err)
		}
		if tr.lasts != 1 {
			t.Errorf("%d bytes: the stage saw the end %d times; want once", size, tr.lasts)
		}
		if got, _ := e.s3.Get(t, "u/f.bin"); !bytes.Equal(got, append(data, "END"...)) {
			t.Errorf("%d bytes: stored %d bytes; want the file and the stage's 3 last bytes", size, len(got))
		}
	}
}

// TestPending_InterruptedEnvelopeUploadIsNotPublished: under envelope
// encryption a temporary file whose upload was interrupted, and never
// resumed, lacks its final chunk, so no reader would accept it: renaming it
// onto its final name is refused, nothing appears there, and it stays
// pending for a resume.
func TestPending_InterruptedEnvelopeUploadIsNotPublished(t *testing.T) {
	e, _ := newEnvelopeEnv(t)
	tenant := &auth.Tenant{User: "tester", Bucket: e.s3.Bucket, Prefix: "cut/", Perms: auth.AllPerms}
	clientConn, done := e.interruptedUpload(t, tenant, randBytes(13<<20))
	clientConn.Close()
	<-done

	c := e.session(t, "cut/", auth.AllPerms)
	fi, err := c.Stat("/big.dat.filepart")
	if err != nil || fi.Size() == 0 {
		t.Fatalf("stat after the disconnect = %v, %v; want whole parts kept", fi, err)
	}
	err = c.Rename("/big.dat.filepart", "/big.dat")
	if err == nil || !strings.Contains(err.Error(), "interrupted before its end") {
		t.Errorf("rename of the interrupted upload = %v; want it refused as interrupted", err)
	}
	if _, ok := e.s3.Get(t, "cut/big.dat"); ok {
		t.Errorf("an object without its final chunk was stored under the final name")
	}
	if after, err := c.Stat("/big.dat.filepart"); err != nil || after.Size() != fi.Size() {
		t.Errorf("stat after the refused rename = %v, %v; want it still pending at %d bytes", after, err, fi.Size())
	}
}
