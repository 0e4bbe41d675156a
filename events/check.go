package events

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/s3sftpd/s3sftpd/events/sns"
)

// CheckSink says what is wrong with sc, the last of sinks (those before it
// in the config), by config key: url, secret_file, types, topic_arn,
// endpoint. The config reads the secret file; this checks its length.
func CheckSink(sinks []SinkConfig) map[string]error {
	sc, problems := sinks[len(sinks)-1], map[string]error{}
	note := func(key string, err error) {
		if err != nil {
			problems[key] = err
		}
	}
	note("types", CheckTypes(sc.Types))
	switch sc.Kind {
	case "webhook":
		note("url", CheckWebhookURL(sc.URL))
		if len(sc.Secret) < MinSecret {
			note("secret_file", fmt.Errorf("the file holds %d bytes; a webhook secret needs at least %d (head -c 32 /dev/urandom > FILE)", len(sc.Secret), MinSecret))
		}
	case "sns":
		note("topic_arn", sns.CheckTopicARN(sc.TopicARN))
		note("endpoint", sns.CheckEndpoint(sc.Endpoint))
	}
	for _, o := range sinks[:len(sinks)-1] {
		if o.Kind == sc.Kind && o.URL == sc.URL && o.TopicARN == sc.TopicARN && o.Endpoint == sc.Endpoint {
			key := map[string]string{"webhook": "url", "sns": "topic_arn"}[sc.Kind]
			note(key, errors.New("the same receiver as an earlier sink: list each once (a sink has one cursor; types may list several types)"))
		}
	}
	return problems
}

// CheckWebhookURL says what is wrong with a webhook URL: it must be https,
// or http to a loopback host (localhost, 127.0.0.1, [::1]), and carry no
// user name or password (the secret signs; it is not sent).
func CheckWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("required: the receiver's https URL")
	case err != nil:
		return fmt.Errorf("not a URL: %q", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("must be an https URL (http only to loopback), got scheme %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q names no host", raw)
	case u.User != nil:
		return errors.New("must not hold a user name or password: the signature authenticates the gateway")
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return fmt.Errorf("http is allowed only to loopback (localhost, 127.0.0.1, [::1]); %q is not: use https", u.Hostname())
	}
	return nil
}

// loopbackHost reports whether host names the local machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
