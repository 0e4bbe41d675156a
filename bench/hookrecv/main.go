// Command hookrecv is a webhook receiver for bench/events.sh: it listens on
// 127.0.0.1 only, prints "listening ADDR" once ready, checks each request's
// X-S3sftpd-Signature against the secret file, and appends one line per
// accepted event ("UNIX_NANOS ID") to the log. While the -down file exists
// it answers 503, as a receiver under maintenance does.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	secretFile := flag.String("secret", "", "the webhook's secret_file")
	down := flag.String("down", "", "answer 503 while this file exists")
	out := flag.String("log", "", "append accepted events here")
	flag.Parse()
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening", ln.Addr())
	var mu sync.Mutex
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := os.Stat(*down); *down != "" && err == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		if !hmac.Equal([]byte(r.Header.Get("X-S3sftpd-Signature")), []byte("sha256="+hex.EncodeToString(m.Sum(nil)))) {
			log.Printf("bad signature on %s", body)
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		mu.Lock()
		fmt.Fprintf(f, "%d %s\n", time.Now().UnixNano(), r.Header.Get("X-S3sftpd-Event-Id"))
		mu.Unlock()
	})))
}
