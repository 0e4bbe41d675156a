package auth

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswordHash_Verify(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("bcrypt secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ hash, pw string }{
		{HashPassword("argon secret"), "argon secret"},
		{string(bc), "bcrypt secret"},
	} {
		h, err := ParsePasswordHash(tt.hash)
		if err != nil {
			t.Fatalf("ParsePasswordHash(%q): %v", tt.hash, err)
		}
		if !h.Verify(tt.pw) {
			t.Errorf("Verify(right password) = false for %.10s…", tt.hash)
		}
		if h.Verify(tt.pw+"x") || h.Verify("") {
			t.Errorf("Verify(wrong password) = true for %.10s…", tt.hash)
		}
	}
}

func TestParsePasswordHash_Rejects(t *testing.T) {
	for _, s := range []string{
		"", "hunter2", "correct horse battery staple", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5", "$2b$10$short", "$1$md5crypt$abcdefghijklmnopqrstuv",
		"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
	} {
		if _, err := ParsePasswordHash(s); err == nil {
			t.Errorf("ParsePasswordHash(%q) = nil error; want refused", s)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	h, _ := ParsePasswordHash(HashPassword("right password"))
	users, err := NewUsers([]User{{Name: "p", Bucket: "b", Home: "p/", Methods: MethodPassword, Password: &h},
		{Name: "k", Bucket: "b", Home: "k/", Keys: nil}})
	if err != nil {
		t.Fatal(err)
	}
	if tn, err := users.CheckPassword("p", "right password"); err != nil || tn.User != "p" || tn.Methods != MethodPassword {
		t.Errorf("CheckPassword(p, right) = %+v, %v; want p's tenant", tn, err)
	}
	for _, c := range [][2]string{{"p", "wrong"}, {"nobody", "right password"}, {"k", "right password"}} {
		if _, err := users.CheckPassword(c[0], c[1]); err != ErrDenied {
			t.Errorf("CheckPassword(%s, %s) = %v; want ErrDenied", c[0], c[1], err)
		}
	}
	if _, err := NewUsers([]User{{Name: "p", Bucket: "b", Home: "p/", Methods: MethodPassword}}); err == nil {
		t.Errorf("NewUsers with password method and no hash = nil error")
	}
}
