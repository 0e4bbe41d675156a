// Package snstest starts a real SNS- and SQS-compatible server for tests:
// goaws (github.com/Admiral-Piett/goaws v0.4.5), served on 127.0.0.1 only
// by s3sftpd-goawsd (the command in goawsd/, which scripts/test builds;
// goaws's own command listens on every interface), with a standard and a
// FIFO topic, each subscribed by a queue with raw delivery, so a message
// published to a topic is found in its queue with its body and attributes
// unchanged.
//
// goaws speaks only the query protocol. The SNS SDK still uses it, but
// SQS's SDK (service/sqs v1.28 and later) sends JSON 1.0, which goaws
// refuses (goaws #281), so Receive reads the queue with plain query-protocol
// form posts of its own rather than an old SDK.
//
// It is a test helper only: nothing the gateway ships imports it.
package snstest

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Region and Account are those of the topics' ARNs.
const (
	Region  = "eu-west-1"
	Account = "123456789012"
)

// Topic names, and the queues subscribed to them.
const (
	topic     = "s3sftpd-events"
	queue     = "s3sftpd-events-queue"
	fifoTopic = "s3sftpd-events.fifo"
	fifoQueue = "s3sftpd-events-queue.fifo"
)

// RequireEnv, when set, turns a missing server binary from a skip into a
// failure: scripts/test sets it, so CI never skips.
const RequireEnv = "S3SFTPD_REQUIRE_GOAWS"

const install = "scripts/test builds it (go build -C internal/snstest/goawsd -o $(go env GOPATH)/bin/s3sftpd-goawsd .)"

// Server is a running goaws.
type Server struct {
	Endpoint     string // http://127.0.0.1:PORT, SNS and SQS alike
	TopicARN     string // a standard topic, subscribed by a raw queue
	FIFOTopicARN string // a FIFO topic, subscribed by a raw FIFO queue
	Log          string // path of its output

	bin, conf string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Message is one message read from a queue.
type Message struct {
	Body       string
	Attributes map[string]string // message attributes, by name (string values)
}

// Start runs goaws on a free loopback port and waits until it serves. It
// skips the test when s3sftpd-goawsd is missing, unless RequireEnv is set.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := findBinary(t)
	dir := t.TempDir()
	conf := fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Region: %[1]s
  AccountId: "%[2]s"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
  Queues:
    - Name: %[4]s
    - Name: %[6]s
  Topics:
    - Name: %[3]s
      Subscriptions:
        - QueueName: %[4]s
          Raw: true
    - Name: %[5]s
      Subscriptions:
        - QueueName: %[6]s
          Raw: true
`, Region, Account, topic, queue, fifoTopic, fifoQueue)
	confPath := filepath.Join(dir, "goaws.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{
		TopicARN:     "arn:aws:sns:" + Region + ":" + Account + ":" + topic,
		FIFOTopicARN: "arn:aws:sns:" + Region + ":" + Account + ":" + fifoTopic,
		Log:          filepath.Join(dir, "goaws.log"),
		bin:          bin,
		conf:         confPath,
	}
	s.run(t, "127.0.0.1:0")
	return s
}

// run starts goawsd on listen and waits until it serves there.
func (s *Server) run(t testing.TB, listen string) {
	t.Helper()
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "-listen", listen, "-config", s.conf)
	cmd.Dir = filepath.Dir(s.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start goaws: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	t.Cleanup(s.Stop)
	// goawsd prints "listening on ADDR" once it serves.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		log := readLog(s.Log)
		if _, rest, ok := strings.Cut(log, "listening on "); ok && strings.Contains(rest, "\n") {
			s.Endpoint = "http://" + strings.TrimSpace(rest[:strings.Index(rest, "\n")])
			return
		}
		select {
		case <-exited:
			t.Fatalf("goaws exited on start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("goaws did not start within 20s:\n%s", log)
		}
	}
}

// Stop kills goaws and waits for it: a receiver that is down. It is safe
// to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd.Process.Kill()
	<-s.exited
}

// Restart starts a stopped goaws again on the same address, with its
// topics and queues as at Start and empty: a receiver that comes back.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.run(t, strings.TrimPrefix(s.Endpoint, "http://"))
}

func findBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("s3sftpd-goawsd"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "s3sftpd-goawsd")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("s3sftpd-goawsd not found and %s is set: %s", RequireEnv, install)
	}
	t.Skipf("s3sftpd-goawsd (goaws on loopback) not found, so the SNS tests do not run: %s", install)
	return ""
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// Receive reads and deletes every message now in the standard topic's
// queue, oldest first.
func (s *Server) Receive(t testing.TB) []Message { return s.receive(t, queue) }

// ReceiveFIFO does the same for the FIFO topic's queue.
func (s *Server) ReceiveFIFO(t testing.TB) []Message { return s.receive(t, fifoQueue) }

func (s *Server) receive(t testing.TB, queueName string) []Message {
	t.Helper()
	var msgs []Message
	for {
		batch, handles, err := s.receiveBatch(queueName)
		if err != nil {
			t.Fatalf("receive from goaws queue %s: %v", queueName, err)
		}
		if len(batch) == 0 {
			return msgs
		}
		msgs = append(msgs, batch...)
		for _, h := range handles {
			if _, err := s.call(url.Values{"Action": {"DeleteMessage"}, "QueueUrl": {s.queueURL(queueName)}, "ReceiptHandle": {h}}); err != nil {
				t.Fatalf("delete from goaws queue %s: %v", queueName, err)
			}
		}
	}
}

// Await receives from the standard topic's queue until a message satisfies
// match or timeout passes, and returns every message received (the match
// last); it fails the test at the timeout. It serves end-to-end tests,
// where the gateway delivers in the background.
func (s *Server) Await(t testing.TB, timeout time.Duration, match func(Message) bool) []Message {
	t.Helper()
	var all []Message
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range s.Receive(t) {
			all = append(all, m)
			if match(m) {
				return all
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching message in goaws queue %s within %v; received %d: %v", queue, timeout, len(all), all)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) queueURL(name string) string { return s.Endpoint + "/" + Account + "/" + name }

// receiveMessageResponse is the part of SQS's query-protocol
// ReceiveMessage answer read here.
type receiveMessageResponse struct {
	Messages []struct {
		Body          string `xml:"Body"`
		ReceiptHandle string `xml:"ReceiptHandle"`
		Attributes    []struct {
			Name  string `xml:"Name"`
			Value struct {
				StringValue string `xml:"StringValue"`
			} `xml:"Value"`
		} `xml:"MessageAttribute"`
	} `xml:"ReceiveMessageResult>Message"`
}

func (s *Server) receiveBatch(queueName string) ([]Message, []string, error) {
	// goaws hides every message of a FIFO group that a receive passes over
	// (until its visibility timeout), so a FIFO queue is read one by one.
	max := "10"
	if strings.HasSuffix(queueName, ".fifo") {
		max = "1"
	}
	body, err := s.call(url.Values{
		"Action": {"ReceiveMessage"}, "QueueUrl": {s.queueURL(queueName)},
		"MaxNumberOfMessages": {max}, "MessageAttributeName.1": {"All"},
	})
	if err != nil {
		return nil, nil, err
	}
	var resp receiveMessageResponse
	if err := xml.Unmarshal(body, &resp); err != nil {
		return nil, nil, fmt.Errorf("decode ReceiveMessage answer: %w\n%s", err, body)
	}
	var msgs []Message
	var handles []string
	for _, m := range resp.Messages {
		msg := Message{Body: m.Body, Attributes: map[string]string{}}
		for _, a := range m.Attributes {
			msg.Attributes[a.Name] = a.Value.StringValue
		}
		msgs = append(msgs, msg)
		handles = append(handles, m.ReceiptHandle)
	}
	return msgs, handles, nil
}

// call posts one query-protocol action to goaws (which checks no
// signature) and returns the answer's body.
func (s *Server) call(form url.Values) ([]byte, error) {
	form.Set("Version", "2012-11-05")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s\n%s", form.Get("Action"), resp.Status, body)
	}
	return body, nil
}

// SinkTOML is the gateway config table of an SNS sink publishing to the
// standard topic, for events of the given types (all when none).
func (s *Server) SinkTOML(types ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[[events.sns]]\ntopic_arn = %q\nendpoint = %q\n", s.TopicARN, s.Endpoint)
	if len(types) > 0 {
		b.WriteString("types = [")
		for i, typ := range types {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", typ)
		}
		b.WriteString("]\n")
	}
	return b.String() + "\n"
}

// AwaitEvent waits until the standard topic's queue receives an event of
// type typ for the SFTP path path, checks that its attributes agree with
// its JSON body (type, user, event_id = id) as the SNS sink promises, and
// returns the body decoded. Events of other types or paths are passed
// over. It fails the test after timeout.
func (s *Server) AwaitEvent(t testing.TB, timeout time.Duration, typ, path string) map[string]any {
	t.Helper()
	var ev map[string]any
	s.Await(t, timeout, func(m Message) bool {
		var body map[string]any
		if json.Unmarshal([]byte(m.Body), &body) != nil {
			t.Errorf("SNS message body is not JSON: %q", m.Body)
			return false
		}
		if body["type"] != typ || body["path"] != path {
			return false
		}
		for attr, field := range map[string]string{"type": "type", "user": "user", "event_id": "id"} {
			want, _ := body[field].(string)
			if got := m.Attributes[attr]; got != want {
				t.Errorf("SNS message attribute %s = %q; want the body's %s, %q", attr, got, field, want)
			}
		}
		ev = body
		return true
	})
	return ev
}
