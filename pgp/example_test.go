package pgp_test

import (
	"fmt"
	"io"
	"time"

	"github.com/s3sftpd/s3sftpd/pgp"
)

// An upload to a decrypting folder: Decrypt comes first in the chain (the
// SHA-256 after it is the plaintext's), and the commit waits for Finish.
func ExampleDecrypt() {
	gateway, err := pgp.LoadPrivateKeyFile("./data/pgp/gateway.asc", time.Now()) // [pgp] private_key_file
	if err != nil {
		panic(err)
	}
	partner, err := pgp.LoadPublicKeysFile("./partners/acme.asc", time.Now()) // pgp_public_keys_file
	if err != nil {
		panic(err)
	}
	d := pgp.NewDecrypt(gateway, partner, true) // pgp_require_signature = true
	d.Align = 64 << 10                          // the next stage's block
	parts := [][]byte{ /* report.csv.pgp, part by part */ }
	for i, p := range parts {
		plain, err := d.Write(p, i == len(parts)-1)
		if err != nil {
			refuse(d, err)
			return
		}
		_ = plain // on to the next stages, stored as report.csv
	}
	if err := d.Finish(); err != nil {
		refuse(d, err)
		return
	}
	if s := d.Signer(); s != nil {
		fmt.Println("signed by", s.Fingerprint()) // into the trail and the event
	}
}

func refuse(d *pgp.Decrypt, err error) {
	d.Abort()
	if msg, ok := pgp.Refusal(err); ok {
		fmt.Println(msg) // to the partner, and abort the upload
		return
	}
	fmt.Println("upload failed") // err to the log only
}

// A download from an encrypting folder: the listing shows the name with
// ".pgp" and Size of the plaintext's size, and the bytes are streamed
// through Encrypt.
func ExampleEncrypter() {
	gateway, _ := pgp.LoadPrivateKeyFile("./data/pgp/gateway.asc", time.Now())
	partner, _ := pgp.LoadPublicKeysFile("./partners/acme.asc", time.Now())
	e, err := pgp.NewEncrypter(gateway, partner)
	if err != nil {
		panic(err)
	}
	var plainSize int64 = 1 << 20
	fmt.Println("report.csv.pgp", e.Size(plainSize)) // exact: what the client will receive

	var toClient io.Writer = io.Discard
	w, err := e.Encrypt(toClient)
	if err != nil {
		panic(err)
	}
	// io.Copy(w, objectBody)
	w.Close() // writes the signature and the end
}
