package snstest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStart_ListensOnLoopbackOnly: goaws's own command listens on 0.0.0.0;
// the harness's must hold no listening socket on any other address.
func TestStart_ListensOnLoopbackOnly(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %q; want http://127.0.0.1:PORT", s.Endpoint)
	}
	addrs := listeningAddrs(t, s.cmd.Process.Pid)
	if len(addrs) == 0 {
		t.Fatal("found no listening socket of goaws")
	}
	for _, a := range addrs {
		if a != "0100007F" { // 127.0.0.1, as /proc/net/tcp writes it
			t.Errorf("goaws listens on address %s (hex, /proc/net/tcp{,6}); want 127.0.0.1 only", a)
		}
	}
}

// listeningAddrs are the local addresses (hex, as in /proc/net/tcp) of the
// listening TCP sockets that process pid holds.
func listeningAddrs(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var addrs []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			addr, _, _ := strings.Cut(fields[1], ":")
			addrs = append(addrs, addr)
		}
		f.Close()
	}
	return addrs
}

func TestGoawsd_RefusesANonLoopbackAddress(t *testing.T) {
	bin := findBinary(t)
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		out, err := exec.Command(bin, "-listen", addr, "-config", "/dev/null").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "must be a loopback address") {
			t.Errorf("goawsd -listen %s: %v\n%s; want a refusal", addr, err, out)
		}
	}
}

func TestReceive_ReadsBodyAndAttributes(t *testing.T) {
	s := Start(t)
	if got := s.Receive(t); len(got) != 0 {
		t.Fatalf("a new queue holds %v; want nothing", got)
	}
	_, err := s.call(map[string][]string{
		"Action": {"Publish"}, "TopicArn": {s.TopicARN}, "Message": {`{"type":"upload","size":1}`},
		"MessageAttributes.entry.1.Name": {"type"}, "MessageAttributes.entry.1.Value.DataType": {"String"},
		"MessageAttributes.entry.1.Value.StringValue": {"upload"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Receive(t)
	if len(got) != 1 || got[0].Body != `{"type":"upload","size":1}` || got[0].Attributes["type"] != "upload" {
		t.Errorf("Receive = %+v; want the one message published, with its type attribute", got)
	}
	if again := s.Receive(t); len(again) != 0 {
		t.Errorf("a second Receive = %v; want nothing (the first deletes what it reads)", again)
	}
}

func TestAwaitEvent_FindsTheEventOfTypeAndPath(t *testing.T) {
	s := Start(t)
	publish := func(body string, attrs ...string) {
		form := map[string][]string{"Action": {"Publish"}, "TopicArn": {s.TopicARN}, "Message": {body}}
		for i := 0; i < len(attrs); i += 2 {
			n := strconv.Itoa(i/2 + 1)
			form["MessageAttributes.entry."+n+".Name"] = []string{attrs[i]}
			form["MessageAttributes.entry."+n+".Value.DataType"] = []string{"String"}
			form["MessageAttributes.entry."+n+".Value.StringValue"] = []string{attrs[i+1]}
		}
		if _, err := s.call(form); err != nil {
			t.Fatal(err)
		}
	}
	publish(`{"id":"e1","type":"mkdir","user":"acme","path":"/in"}`, "type", "mkdir", "user", "acme", "event_id", "e1")
	publish(`{"id":"e2","type":"upload","user":"acme","path":"/in/other.csv"}`, "type", "upload", "user", "acme", "event_id", "e2")
	publish(`{"id":"e3","type":"upload","user":"acme","path":"/in/a.csv","sha256":"ab"}`, "type", "upload", "user", "acme", "event_id", "e3")
	ev := s.AwaitEvent(t, 10*time.Second, "upload", "/in/a.csv")
	if ev["id"] != "e3" || ev["sha256"] != "ab" {
		t.Errorf("AwaitEvent = %v; want the event e3", ev)
	}
}
