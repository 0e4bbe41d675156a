// Command s3link is a TCP relay that caps throughput, so bench/run.sh can put
// the local S3 store behind a link as slow as a real network path to S3. Each
// direction has its own cap, shared by all connections, like a full-duplex
// link. It listens on 127.0.0.1 only and prints "listening ADDR" once ready.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"
)

func main() {
	target := flag.String("target", "", "host:port to relay to")
	mbps := flag.Float64("mbps", 100, "cap per direction, in MB/s (10^6 bytes)")
	flag.Parse()
	if *target == "" || *mbps <= 0 {
		log.Fatal("s3link: -target and a positive -mbps are required")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening", ln.Addr())
	up, down := newPacer(*mbps), newPacer(*mbps)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go relay(c, *target, up, down)
	}
}

func relay(c net.Conn, target string, up, down *pacer) {
	defer c.Close()
	t, err := net.Dial("tcp", target)
	if err != nil {
		log.Print(err)
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	go func() { pump(t, c, up); t.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { pump(c, t, down); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// pump copies src to dst, taking its time from p.
func pump(dst io.Writer, src io.Reader, p *pacer) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.wait(n)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pacer spaces bytes out to a fixed rate. It keeps at most slack of credit
// from idle time: enough to absorb the timer's lateness, too little to let a
// burst after a pause go much faster than the link.
const slack = 5 * time.Millisecond

type pacer struct {
	mu      sync.Mutex
	next    time.Time // when the link is free again
	perByte float64   // nanoseconds per byte
}

func newPacer(mbps float64) *pacer { return &pacer{perByte: 1e3 / mbps} }

func (p *pacer) wait(n int) {
	p.mu.Lock()
	if earliest := time.Now().Add(-slack); p.next.Before(earliest) {
		p.next = earliest
	}
	p.next = p.next.Add(time.Duration(float64(n) * p.perByte))
	until := p.next
	p.mu.Unlock()
	time.Sleep(time.Until(until))
}
