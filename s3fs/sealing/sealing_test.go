package sealing

import (
	"context"
	"errors"
	"testing"

	"github.com/s3sftpd/s3sftpd/objfmt"
	"github.com/s3sftpd/s3sftpd/store"
)

// TestPolicy_Accepts: what a read accepts follows the policy alone, before
// any key is asked for: plaintext only where nothing must be sealed, format
// version 1 only where the config does not refuse it.
func TestPolicy_Accepts(t *testing.T) {
	ctx := context.Background()
	plain := store.Object{Size: 42}
	if op, size, err := (&Policy{}).Opener(ctx, "b", "acme/", "acme/a.txt", plain); op != nil || size != 42 || err != nil {
		t.Errorf("plain policy, plaintext object: Opener = %v, %d, %v; want nil, 42, nil", op, size, err)
	}
	if _, _, err := (&Policy{Seal: true}).Opener(ctx, "b", "acme/", "acme/a.txt", plain); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("envelope policy, plaintext object: Opener error = %v; want ErrNotEncrypted", err)
	}
	v1 := map[string]string{objfmt.MetaVersion: objfmt.Version1}
	if err := (&Policy{RefuseFormat1: true}).CheckFormat(v1); !errors.Is(err, ErrFormat1) {
		t.Errorf("RefuseFormat1: CheckFormat(v1) = %v; want ErrFormat1", err)
	}
	if err := (&Policy{}).CheckFormat(v1); err != nil {
		t.Errorf("CheckFormat(v1) = %v; want nil", err)
	}
}

// TestPolicy_PlainPlace: the zero policy seals nothing, keeps names plain and
// shows stored sizes; it has no key for rewrap to call current.
func TestPolicy_PlainPlace(t *testing.T) {
	p := &Policy{}
	if s, err := p.NewSealer(context.Background(), "b", "acme/", "acme/a.txt"); s != nil || err != nil {
		t.Errorf("NewSealer = %v, %v; want nil, nil", s, err)
	}
	if n := p.Names("b", "acme/"); n != nil {
		t.Errorf("Names = %v; want nil", n)
	}
	if got := p.ListedSize(100); got != 100 {
		t.Errorf("ListedSize(100) = %d; want 100", got)
	}
	if _, err := p.CurrentKeyID(context.Background()); err == nil {
		t.Error("CurrentKeyID with no key: no error")
	}
	if got, want := Binding("b", "acme/", "acme/x/a.txt"), (objfmt.Binding{Bucket: "b", Home: "acme/", Key: "x/a.txt"}); got != want {
		t.Errorf("Binding = %+v; want %+v", got, want)
	}
}

// TestPolicy_OnePlaceOneCipher: the name cipher belongs to the place, not to
// a login: two asks for the same (bucket, home) encrypt alike, another home
// differently.
func TestPolicy_OnePlaceOneCipher(t *testing.T) {
	kek, err := objfmt.NewKEK(make([]byte, objfmt.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	p := &Policy{NameKey: kek}
	a, b, other := p.Names("b", "shared/"), p.Names("b", "shared/"), p.Names("b", "acme/")
	if a.Encrypt("x.txt") != b.Encrypt("x.txt") {
		t.Error("one place, two ciphers: the same name encrypts differently")
	}
	if a.Encrypt("x.txt") == other.Encrypt("x.txt") {
		t.Error("two places, one cipher: a name encrypts alike in another home")
	}
}
