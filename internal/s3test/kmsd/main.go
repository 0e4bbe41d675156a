// Command kmsd serves local-kms, an AWS KMS emulator speaking the real KMS
// API, on one loopback address for the tests. local-kms's own command
// listens on every interface; this one binds where it is told (-listen,
// 127.0.0.1 only) and prints the address it got. It is a module of its
// own so the emulator's dependencies stay out of s3sftpd's go.mod.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"

	kms "github.com/nsmithuk/local-kms/src"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	dir := flag.String("data", "", "directory of the key database")
	region := flag.String("region", "us-east-1", "region in key ARNs")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("kmsd: -listen %q: must be a loopback address", *listen)
	}
	if *dir == "" {
		log.Fatal("kmsd: -data is required")
	}
	config.AWSRegion, config.AWSAccountId = *region, "111122223333"
	config.DatabasePath, _ = filepath.Abs(*dir)
	db := data.NewDatabase(config.DatabasePath)
	defer db.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("kmsd: %v", err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kms.HandleRequest(w, r, db)
	})))
}
