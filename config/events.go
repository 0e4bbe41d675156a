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

// validateEvents checks [events] (events.CheckSink) and reads the webhook
// secrets, which must be owner-only.
func (l *loader) validateEvents(cfg *Config) {
	e := &cfg.Events
	for i := range e.Webhook {
		w, key := &e.Webhook[i], fmt.Sprintf("events.webhook[%d].secret_file", i)
		if w.SecretFile = l.resolve(w.SecretFile); w.SecretFile == "" {
			l.errf(key, "required: a file of at least %d random bytes, owner-only (head -c 32 /dev/urandom > FILE)", events.MinSecret)
			w.Secret = make([]byte, events.MinSecret) // reported once
		} else if secret, err := readSecret(w.SecretFile, maxHMACKey); err != nil {
			l.errf(key, "%v", err)
			w.Secret = make([]byte, events.MinSecret)
		} else {
			w.Secret = secret
		}
	}
	sinks := e.Sinks()
	for i := range sinks {
		table := fmt.Sprintf("events.webhook[%d]", i)
		if i >= len(e.Webhook) {
			table = fmt.Sprintf("events.sns[%d]", i-len(e.Webhook))
		}
		for key, err := range events.CheckSink(sinks[:i+1]) {
			l.errf(table+"."+key, "%v", err)
		}
		if i == 0 && cfg.Audit.File == "" {
			l.errf(table, "events are read from the audit trail's file: set [audit] file")
		}
	}
}
