// Command goawsd serves goaws (github.com/Admiral-Piett/goaws), an SNS and
// SQS emulator speaking the query protocol, on one loopback address for
// the tests. goaws's own command listens on 0.0.0.0 whatever its config
// says; this one binds where it is told (-listen, loopback only), loads
// the topics and queues of a goaws YAML config (-config), and prints the
// address it got. It is a module of its own so the emulator's dependencies
// (the old v1 AWS SDK among them) stay out of s3sftpd's go.mod.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	config := flag.String("config", "", "goaws YAML config (its Local environment is used)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("goawsd: -listen %q: must be a loopback address", *listen)
	}
	if *config == "" {
		log.Fatal("goawsd: -config is required")
	}
	if _, err := os.Stat(*config); err != nil {
		log.Fatalf("goawsd: %v", err)
	}
	// goaws logs every message it routes at Info, body included.
	logrus.SetLevel(logrus.WarnLevel)
	conf.LoadYamlConfig(*config, "Local") // its ports are ignored: -listen decides

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("goawsd: %v", err)
	}
	go gosqs.PeriodicTasks(time.Second, make(chan struct{}))
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, router.New()))
}
