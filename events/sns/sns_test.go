package sns

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/s3sftpd/s3sftpd/internal/snstest"
)

// testCredentials gives the SDK's default chain keys (goaws checks no
// signature) and keeps it from the machine's own AWS config.
func testCredentials(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSNSTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func newSink(t *testing.T, c Config) *Sink {
	t.Helper()
	s, err := New(context.Background(), c)
	if err != nil {
		t.Fatalf("New(%+v): %v", c, err)
	}
	return s
}

const uploadEvent = `{"id":"ev-0001","type":"upload","user":"alice","path":"/inbound/lab results.csv","size":1234,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`

func TestDeliver_LandsInTheSubscribedQueue(t *testing.T) {
	testCredentials(t)
	srv := snstest.Start(t)
	s := newSink(t, Config{TopicARN: srv.TopicARN, Endpoint: srv.Endpoint})
	if got, want := s.Name(), "sns:s3sftpd-events"; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
	if err := s.Deliver(context.Background(), "ev-0001", "upload", "alice", []byte(uploadEvent)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got := srv.Receive(t)
	want := []snstest.Message{{Body: uploadEvent, Attributes: map[string]string{
		AttrType: "upload", AttrUser: "alice", AttrEventID: "ev-0001",
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue received (-want +got):\n%s", diff)
	}
}

// An event without a user (a retention sweep's delete) still carries its
// type and id; SNS refuses an empty attribute, so user is left out.
func TestDeliver_EventWithoutUser(t *testing.T) {
	testCredentials(t)
	srv := snstest.Start(t)
	s := newSink(t, Config{TopicARN: srv.TopicARN, Endpoint: srv.Endpoint})
	body := `{"id":"ev-0002","type":"retention_delete","size":7}`
	if err := s.Deliver(context.Background(), "ev-0002", "retention_delete", "", []byte(body)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got := srv.Receive(t)
	want := []snstest.Message{{Body: body, Attributes: map[string]string{AttrType: "retention_delete", AttrEventID: "ev-0002"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue received (-want +got):\n%s", diff)
	}
}

// SNS refuses a String attribute with an empty value (goaws merely drops
// it), so the Publish itself must leave it out.
func TestPublishInput_NoEmptyAttribute(t *testing.T) {
	testCredentials(t)
	s := newSink(t, Config{TopicARN: "arn:aws:sns:us-east-1:123456789012:phi-arrivals"})
	in, err := s.publishInput("ev-0002", "retention_delete", "", []byte(`{"id":"ev-0002"}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range in.MessageAttributes {
		if aws.ToString(v.StringValue) == "" {
			t.Errorf("attribute %s has an empty value; SNS refuses the Publish", name)
		}
	}
	if got := slices.Sorted(maps.Keys(in.MessageAttributes)); !slices.Equal(got, []string{AttrEventID, AttrType}) {
		t.Errorf("attributes %v; want event_id and type", got)
	}
}

func TestDeliver_FIFOTopic(t *testing.T) {
	testCredentials(t)
	srv := snstest.Start(t)
	s := newSink(t, Config{TopicARN: srv.FIFOTopicARN, Endpoint: srv.Endpoint, GroupID: "gw-1"})
	for i, id := range []string{"ev-0001", "ev-0002", "ev-0003"} {
		body := strings.Replace(uploadEvent, "ev-0001", id, 1)
		if err := s.Deliver(context.Background(), id, "upload", "alice", []byte(body)); err != nil {
			t.Fatalf("Deliver %d: %v", i, err)
		}
	}
	got := srv.ReceiveFIFO(t)
	var ids []string
	for _, m := range got {
		ids = append(ids, m.Attributes[AttrEventID])
	}
	if diff := cmp.Diff([]string{"ev-0001", "ev-0002", "ev-0003"}, ids); diff != "" {
		t.Errorf("FIFO queue event ids, in order (-want +got):\n%s", diff)
	}
}

// The FIFO fields goaws ignores: one group per gateway, the event id as the
// deduplication id (hashed when SNS would refuse it as one).
func TestPublishInput_FIFOIDs(t *testing.T) {
	testCredentials(t)
	s := newSink(t, Config{TopicARN: "arn:aws:sns:us-east-1:123456789012:phi-arrivals.fifo", GroupID: "gw-1"})
	long := strings.Repeat("e", 129)
	for _, tc := range []struct{ id, dedup string }{
		{"ev-0001", "ev-0001"},
		{"2026-12-02T07:10:00Z/seg-3/17", "2026-12-02T07:10:00Z/seg-3/17"},
		{long, "1b37f21da67b4af2eadf5786f25ab1e4a3e0c68ac748f1a1de2c097ee0858629"},
		{"ev 0001", "effa44841375320e46914525d25dac986bbd1f48b8af0ef0cb5e394232bd1ec0"},
	} {
		in, err := s.publishInput(tc.id, "upload", "alice", []byte(uploadEvent))
		if err != nil {
			t.Fatalf("publishInput(%q): %v", tc.id, err)
		}
		if got := aws.ToString(in.MessageGroupId); got != "gw-1" {
			t.Errorf("MessageGroupId = %q; want gw-1", got)
		}
		got := aws.ToString(in.MessageDeduplicationId)
		if got != tc.dedup {
			t.Errorf("MessageDeduplicationId of %q = %q; want %q", tc.id, got, tc.dedup)
		}
		if got := aws.ToString(in.MessageAttributes[AttrEventID].StringValue); got != tc.id {
			t.Errorf("event_id attribute = %q; want the event id %q", got, tc.id)
		}
	}
	std := newSink(t, Config{TopicARN: "arn:aws:sns:us-east-1:123456789012:phi-arrivals"})
	in, err := std.publishInput("ev-0001", "upload", "alice", []byte(uploadEvent))
	if err != nil {
		t.Fatal(err)
	}
	if in.MessageGroupId != nil || in.MessageDeduplicationId != nil {
		t.Errorf("standard topic: MessageGroupId %v, MessageDeduplicationId %v; want neither (SNS refuses them)", in.MessageGroupId, in.MessageDeduplicationId)
	}
}

func TestDeliver_UnknownTopicIsAnError(t *testing.T) {
	testCredentials(t)
	srv := snstest.Start(t)
	arn := strings.TrimSuffix(srv.TopicARN, "s3sftpd-events") + "no-such-topic"
	s := newSink(t, Config{TopicARN: arn, Endpoint: srv.Endpoint})
	if err := s.Deliver(context.Background(), "ev-0001", "upload", "alice", []byte(uploadEvent)); err == nil {
		t.Fatal("Deliver to a topic that does not exist succeeded; want an error (retried later)")
	}
	if got := srv.Receive(t); len(got) != 0 {
		t.Errorf("queue of another topic received %v; want nothing", got)
	}
}

// A receiver that is down is an error, returned promptly, so the pipeline
// retries later instead of waiting on the sink.
func TestDeliver_ServerDownIsAnError(t *testing.T) {
	testCredentials(t)
	srv := snstest.Start(t)
	s := newSink(t, Config{TopicARN: srv.TopicARN, Endpoint: srv.Endpoint})
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.Deliver(ctx, "ev-0001", "upload", "alice", []byte(uploadEvent))
	if err == nil {
		t.Fatal("Deliver with the server down succeeded; want an error")
	}
	if ctx.Err() != nil {
		t.Errorf("Deliver took the whole 20s context; want it to give up on its own: %v", err)
	}
	if strings.Contains(err.Error(), "lab results") {
		t.Errorf("error %q holds the message body", err)
	}
}

// A sink whose server was down delivers again once it is back: the retry
// of the same event lands, once.
func TestDeliver_AfterTheServerComesBack(t *testing.T) {
	testCredentials(t)
	srv := snstest.Start(t)
	s := newSink(t, Config{TopicARN: srv.TopicARN, Endpoint: srv.Endpoint})
	if err := s.Deliver(context.Background(), "ev-0000", "mkdir", "alice", []byte(`{"id":"ev-0000"}`)); err != nil {
		t.Fatalf("Deliver before the outage: %v", err) // the client now holds a connection
	}
	srv.Stop()
	if err := s.Deliver(context.Background(), "ev-0001", "upload", "alice", []byte(uploadEvent)); err == nil {
		t.Fatal("Deliver with the server down succeeded; want an error")
	}
	srv.Restart(t)
	if err := s.Deliver(context.Background(), "ev-0001", "upload", "alice", []byte(uploadEvent)); err != nil {
		t.Fatalf("Deliver after the server came back: %v", err)
	}
	got := srv.Receive(t)
	if len(got) != 1 || got[0].Body != uploadEvent || got[0].Attributes[AttrEventID] != "ev-0001" {
		t.Errorf("queue received %v; want the retried event once", got)
	}
}

func TestDeliver_RefusesWhatSNSWouldAlways(t *testing.T) {
	testCredentials(t)
	s := newSink(t, Config{TopicARN: "arn:aws:sns:us-east-1:123456789012:phi-arrivals", Endpoint: "http://127.0.0.1:1"})
	big := make([]byte, MaxMessageBytes)
	if err := s.Deliver(context.Background(), "ev-0001", "upload", "alice", big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Deliver of a %d-byte event: %v; want ErrTooLarge", len(big), err)
	}
	if err := s.Deliver(context.Background(), "ev-0001", "upload", "alice", nil); err == nil {
		t.Error("Deliver of an empty body succeeded; want an error")
	}
	if err := s.Deliver(context.Background(), "", "upload", "alice", []byte(uploadEvent)); err == nil {
		t.Error("Deliver without an event id succeeded; want an error")
	}
}

func TestNew_Region(t *testing.T) {
	testCredentials(t)
	t.Setenv("AWS_REGION", "ap-south-1")
	arn := "arn:aws:sns:eu-central-1:123456789012:phi-arrivals"
	if got := newSink(t, Config{TopicARN: arn}).Region(); got != "eu-central-1" {
		t.Errorf("Region() without Config.Region = %q; want the topic's, eu-central-1", got)
	}
	if got := newSink(t, Config{TopicARN: arn, Region: "us-west-2"}).Region(); got != "us-west-2" {
		t.Errorf("Region() with Config.Region = %q; want us-west-2", got)
	}
}

// The endpoint is Config's alone: an AWS_ENDPOINT_URL meant for another
// client cannot send events over http to another host.
func TestNew_EndpointIgnoresTheEnvironment(t *testing.T) {
	testCredentials(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://10.1.2.3:4100")
	t.Setenv("AWS_ENDPOINT_URL_SNS", "http://10.1.2.3:4100")
	arn := "arn:aws:sns:us-east-1:123456789012:phi-arrivals"
	if got := newSink(t, Config{TopicARN: arn}).client.Options().BaseEndpoint; got != nil {
		t.Errorf("endpoint with Config.Endpoint \"\" = %q; want none (AWS)", *got)
	}
	if got := aws.ToString(newSink(t, Config{TopicARN: arn, Endpoint: "https://sns.example.org"}).client.Options().BaseEndpoint); got != "https://sns.example.org" {
		t.Errorf("endpoint = %q; want Config.Endpoint's", got)
	}
}

func TestNew_RefusesBadConfig(t *testing.T) {
	testCredentials(t)
	for name, c := range map[string]Config{
		"http-off-loopback": {TopicARN: "arn:aws:sns:us-east-1:123456789012:t", Endpoint: "http://10.1.2.3:4100"},
		"no-arn":            {Endpoint: "http://127.0.0.1:4100"},
		"queue-arn":         {TopicARN: "arn:aws:sqs:us-east-1:123456789012:t"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(context.Background(), c); err == nil {
				t.Errorf("New(%+v) succeeded; want an error", c)
			}
		})
	}
}

func TestCheckEndpoint(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"", true},
		{"https://sns.us-east-1.amazonaws.com", true},
		{"https://sns.example.org:8443/", true},
		{"http://127.0.0.1:4100", true},
		{"http://127.0.0.2:4100", true},
		{"http://[::1]:4100", true},
		{"http://localhost:4100", true},
		{"http://10.0.0.5:4100", false},
		{"http://sns.example.org", false},
		{"http://127.0.0.1.nip.io:4100", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:4100", false},
		{"https://", false},
		{"https://key:secret@sns.example.org", false},
		{"https://sns.example.org/?Action=Publish", false},
		{"https://sns.example.org/#x", false},
	} {
		err := CheckEndpoint(tc.endpoint)
		if (err == nil) != tc.ok {
			t.Errorf("CheckEndpoint(%q) = %v; want ok %v", tc.endpoint, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("CheckEndpoint(%q) = %q; the error repeats the password", tc.endpoint, err)
		}
	}
}

func TestCheckTopicARN(t *testing.T) {
	for _, tc := range []struct {
		arn string
		ok  bool
	}{
		{"arn:aws:sns:us-east-1:123456789012:phi-arrivals", true},
		{"arn:aws:sns:us-east-1:123456789012:phi_arrivals.fifo", true},
		{"arn:aws-us-gov:sns:us-gov-west-1:123456789012:T", true},
		{"arn:aws-cn:sns:cn-north-1:123456789012:t", true},
		{"arn:aws:sns:us-east-1:123456789012:" + strings.Repeat("t", 256), true},
		{"arn:aws:sns:us-east-1:123456789012:" + strings.Repeat("t", 257), false},
		{"", false},
		{"phi-arrivals", false},
		{"arn:aws:sqs:us-east-1:123456789012:phi-arrivals", false},
		{"arn:aws:sns:us-east-1:123456789012", false},
		{"arn:aws:sns:us-east-1:123456789012:", false},
		{"arn:aws:sns:us-east-1:123456789012:.fifo", false},
		{"arn:aws:sns:us-east-1:12345678901:t", false},
		{"arn:aws:sns:us-east-1:1234567890123:t", false},
		{"arn:aws:sns:us-east-1:12345678901x:t", false},
		{"arn:aws:sns::123456789012:t", false},
		{"arn:aws:sns:US-EAST-1:123456789012:t", false},
		{"arn:azure:sns:us-east-1:123456789012:t", false},
		{"arn:aws:sns:us-east-1:123456789012:phi arrivals", false},
		{"arn:aws:sns:us-east-1:123456789012:phi:arrivals", false},
		{"arn:aws:sns:us-east-1:123456789012:t.fifo.fifo", false},
	} {
		if err := CheckTopicARN(tc.arn); (err == nil) != tc.ok {
			t.Errorf("CheckTopicARN(%q) = %v; want ok %v", tc.arn, err, tc.ok)
		}
	}
}

// BenchmarkDeliver publishes events one after another, as one sink's
// loop does, to goaws on loopback: events/s of one SNS sink, less SNS's own
// latency. go test -run '^$' -bench Deliver -benchtime 1000x ./events/sns/
func BenchmarkDeliver(b *testing.B) {
	testCredentials(b)
	srv := snstest.Start(b)
	s, err := New(context.Background(), Config{TopicARN: srv.TopicARN, Endpoint: srv.Endpoint})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(uploadEvent)
	b.ResetTimer()
	for i := range b.N {
		if err := s.Deliver(context.Background(), "ev-"+strconv.Itoa(i), "upload", "alice", body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
