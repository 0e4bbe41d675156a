package ops

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNameIndex: every object of a home is indexed by the hash of its key,
// its SFTP path and the directories above it; other homes' are not.
func TestNameIndex(t *testing.T) {
	e := newEnv(t)
	for k, body := range map[string]string{"partners/acme/in/labs.csv": "x", "partners/acme/done/": "", "partners/other/secret.csv": "x"} {
		e.s3.Put(t, k, []byte(body))
	}
	hash := func(s string) string { return "h(" + s + ")" }
	got, err := NameIndex(context.Background(), e.st, []Prefix{{Bucket: e.s3.Bucket, Prefix: "partners/acme/"}}, hash)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, n := range []string{"/", "partners/acme/in/labs.csv", "/in/labs.csv", "/in", "partners/acme/done/", "partners/acme/done", "/done"} {
		want[hash(n)] = n
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NameIndex (-want +got):\n%s", diff)
	}
}
