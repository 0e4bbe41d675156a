package config

import (
	"fmt"

	"github.com/s3sftpd/s3sftpd/events"
)

// Events is [events]: the sinks the events of the audit trail go to
// (docs/events.md). Each sink may list the types it takes; none is all.
type Events struct {
	Webhook []Webhook `toml:"webhook"`
	SNS     []SNS     `toml:"sns"`
}

// Webhook is one [[events.webhook]]: an https URL (http only on loopback)
// and the owner-only file of the secret that signs each request.
type Webhook struct {
	URL        string   `toml:"url"`
	SecretFile string   `toml:"secret_file"`
	Types      []string `toml:"types"`
	Secret     []byte   `toml:"-"` // the content of SecretFile: never print it
}

// SNS is one [[events.sns]]: a topic, and optionally an SNS-compatible server.
type SNS struct {
	TopicARN string   `toml:"topic_arn"`
	Endpoint string   `toml:"endpoint"`
	Region   string   `toml:"region"`
	Types    []string `toml:"types"`
}

// Sinks are the sinks as events takes them.
func (e Events) Sinks() []events.SinkConfig {
	var out []events.SinkConfig
	for _, w := range e.Webhook {
		out = append(out, events.SinkConfig{Kind: "webhook", Types: w.Types, URL: w.URL, Secret: w.Secret})
	}
	for _, s := range e.SNS {
		out = append(out, events.SinkConfig{Kind: "sns", Types: s.Types, TopicARN: s.TopicARN, Endpoint: s.Endpoint, Region: s.Region})
	}
	return out
}

// validateEvents checks [events] and reads the webhook secrets.
func (l *loader) validateEvents(cfg *Config) {
	e := &cfg.Events
	check := func(key string, err error) {
		if err != nil {
			l.errf(key, "%v", err)
		}
	}
	for i := range e.Webhook {
		w, key := &e.Webhook[i], fmt.Sprintf("events.webhook[%d]", i)
		check(key+".url", events.CheckWebhookURL(w.URL))
		check(key+".types", events.CheckTypes(w.Types))
		if w.SecretFile = l.resolve(w.SecretFile); w.SecretFile == "" {
			l.errf(key+".secret_file", "required: a file of at least %d random bytes, owner-only (head -c 32 /dev/urandom > FILE)", events.MinSecret)
			continue
		}
		secret, err := readSecret(w.SecretFile, maxHMACKey)
		if err == nil && len(secret) < events.MinSecret {
			err = fmt.Errorf("%q holds %d bytes; a webhook secret needs at least %d (head -c 32 /dev/urandom > FILE)", w.SecretFile, len(secret), events.MinSecret)
		}
		check(key+".secret_file", err)
		w.Secret = secret
	}
	for i, s := range e.SNS {
		key := fmt.Sprintf("events.sns[%d]", i)
		check(key+".topic_arn", events.CheckTopicARN(s.TopicARN))
		check(key+".endpoint", events.CheckEndpoint(s.Endpoint))
		check(key+".types", events.CheckTypes(s.Types))
	}
	if first := "events.sns[0]"; len(e.Webhook)+len(e.SNS) > 0 && cfg.Audit.File == "" {
		if len(e.Webhook) > 0 {
			first = "events.webhook[0]"
		}
		l.errf(first, "events are read from the audit trail's file: set [audit] file")
	}
}
