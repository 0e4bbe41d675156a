// Package sns is the event sink that publishes the gateway's events to an
// Amazon SNS topic (AWS's usual fan-out to SQS queues, e-mail and Lambda),
// or to an SNS-compatible server named by an endpoint. Each event is one
// Publish: the event's JSON document, unchanged, is the message, and the
// event's type, user and id travel as message attributes so subscribers
// can filter and deduplicate without parsing the body.
//
// It owns only the SNS client and the shape of a Publish: which events are
// sent, in which order, and when a failed one is retried are the events
// pipeline's (an error from Deliver means "retry later"). It never logs:
// not the message body (it holds file names and checksums), not
// credentials; its errors name the topic and the SDK's cause.
package sns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go/logging"
)

// Names of the message attributes every message carries (user only when
// the event has one: SNS refuses an empty attribute value).
const (
	AttrType    = "type"
	AttrUser    = "user"
	AttrEventID = "event_id"
)

// MaxMessageBytes is SNS's limit on one message, attributes included.
const MaxMessageBytes = 256 << 10

// deliverTimeout bounds one Deliver whose context has no deadline, so an
// endpoint that accepts and never answers cannot stall the pipeline.
const deliverTimeout = 30 * time.Second

// maxAttempts is the SDK's tries of one Publish, the first included; the
// pipeline's own backoff does the long retries.
const maxAttempts = 3

// ErrTooLarge marks a body that SNS would refuse at any retry.
var ErrTooLarge = errors.New("event larger than an SNS message")

// Config is one [[events.sns]] sink.
type Config struct {
	// TopicARN is the topic published to (CheckTopicARN holds its form); a
	// name ending in ".fifo" is a FIFO topic.
	TopicARN string
	// Endpoint is "" for AWS's regional SNS endpoint, else the base URL of
	// an SNS-compatible server: https, or http on loopback only
	// (CheckEndpoint), since the messages describe PHI files.
	Endpoint string
	// Region signs the requests; "" is the topic ARN's region.
	Region string
	// GroupID is the MessageGroupId of every message to a FIFO topic: one
	// group per gateway keeps its events in order. "" is the host name.
	GroupID string
}

// Sink publishes events to one topic. It is safe for concurrent use.
type Sink struct {
	client   *sns.Client
	topicARN string
	name     string // "sns:" + topic name
	fifo     bool
	groupID  string
}

// New checks c and builds the SNS client; it sends no request, so a topic
// that does not exist or a Publish the credentials may not make shows as
// Deliver's error. Credentials come from the AWS default chain
// (environment, shared config, SSO, instance or task role), as for KMS,
// never from the S3 store's static keys.
func New(ctx context.Context, c Config) (*Sink, error) {
	if err := CheckTopicARN(c.TopicARN); err != nil {
		return nil, err
	}
	if err := CheckEndpoint(c.Endpoint); err != nil {
		return nil, err
	}
	arn := parseARN(c.TopicARN)
	region := c.Region
	if region == "" {
		region = arn.region
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion(region),
		awsconfig.WithRetryMaxAttempts(maxAttempts),
		awsconfig.WithLogger(logging.Nop{}))
	if err != nil {
		return nil, fmt.Errorf("load aws config for sns topic %s: %w", arn.name, err)
	}
	client := sns.NewFromConfig(awsCfg, func(o *sns.Options) {
		// "" is AWS even when AWS_ENDPOINT_URL(_SNS) is set for other
		// clients: only Endpoint, which CheckEndpoint holds, redirects events.
		o.BaseEndpoint = nil
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	groupID := c.GroupID
	if groupID == "" {
		groupID, _ = os.Hostname()
	}
	return &Sink{
		client:   client,
		topicARN: c.TopicARN,
		name:     "sns:" + arn.name,
		fifo:     strings.HasSuffix(arn.name, ".fifo"),
		groupID:  fifoID(groupID, "s3sftpd"),
	}, nil
}

// Name is "sns:" and the topic's name, for logs and metrics.
func (s *Sink) Name() string { return s.name }

// Region is the region the sink signs for.
func (s *Sink) Region() string { return s.client.Options().Region }

// Deliver publishes one event: body (the event's JSON) is the message, typ,
// user and id its attributes. A nil error means SNS accepted it; any error
// means it may not have, and the caller retries later with the same id
// (on a FIFO topic the id is the deduplication id, so SNS drops a repeat
// within five minutes; elsewhere subscribers deduplicate on event_id).
func (s *Sink) Deliver(ctx context.Context, id, typ, user string, body []byte) error {
	in, err := s.publishInput(id, typ, user, body)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, deliverTimeout)
		defer cancel()
	}
	if _, err := s.client.Publish(ctx, in); err != nil {
		return fmt.Errorf("publish event %s to %s: %w", id, s.name, err)
	}
	return nil
}

// publishInput is the Publish of one event.
func (s *Sink) publishInput(id, typ, user string, body []byte) (*sns.PublishInput, error) {
	if id == "" {
		return nil, fmt.Errorf("publish to %s: event has no id", s.name)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("publish event %s to %s: empty body", id, s.name)
	}
	attrs := map[string]types.MessageAttributeValue{}
	size := len(body)
	for name, v := range map[string]string{AttrType: typ, AttrUser: user, AttrEventID: id} {
		if v == "" {
			continue
		}
		attrs[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		size += len(name) + len("String") + len(v)
	}
	if size > MaxMessageBytes {
		return nil, fmt.Errorf("publish event %s to %s: %d bytes: %w", id, s.name, size, ErrTooLarge)
	}
	in := &sns.PublishInput{
		TopicArn:          aws.String(s.topicARN),
		Message:           aws.String(string(body)),
		MessageAttributes: attrs,
	}
	if s.fifo {
		in.MessageGroupId = aws.String(s.groupID)
		in.MessageDeduplicationId = aws.String(fifoID(id, ""))
	}
	return in, nil
}

// fifoID is s as a FIFO group or deduplication id (1 to 128 characters,
// letters, digits and ASCII punctuation): s itself when it is one, else
// the hex SHA-256 of s, so distinct ids stay distinct; empty is fallback.
func fifoID(s, fallback string) string {
	if s == "" {
		return fallback
	}
	ok := len(s) <= 128
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] > ' ' && s[i] < 0x7f
	}
	if ok {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
