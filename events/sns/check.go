package sns

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// topicARN is the parts of an SNS topic ARN.
type topicARN struct {
	partition, region, account, name string
}

// parseARN splits s into its parts; CheckTopicARN says whether they are
// well formed.
func parseARN(s string) topicARN {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "sns" {
		return topicARN{}
	}
	return topicARN{partition: p[1], region: p[3], account: p[4], name: p[5]}
}

// CheckTopicARN reports whether s is an SNS topic ARN,
// arn:PARTITION:sns:REGION:ACCOUNT:NAME, with a 12-digit account and a
// topic name of 1 to 256 letters, digits, hyphens and underscores (a FIFO
// topic's ending in ".fifo"). It makes no request; config validation calls
// it for [[events.sns]] topic_arn.
func CheckTopicARN(s string) error {
	a := parseARN(s)
	switch {
	case a.name == "":
		return fmt.Errorf("topic arn %q: want arn:aws:sns:REGION:ACCOUNT:TOPIC", s)
	case a.partition != "aws" && !(strings.HasPrefix(a.partition, "aws-") && isLowerWord(a.partition[4:])):
		return fmt.Errorf("topic arn %q: partition %q is not aws, aws-cn, aws-us-gov, ...", s, a.partition)
	case !isLowerWord(a.region) || !strings.Contains(a.region, "-"):
		return fmt.Errorf("topic arn %q: region %q is not a region such as us-east-1", s, a.region)
	case len(a.account) != 12 || strings.Trim(a.account, "0123456789") != "":
		return fmt.Errorf("topic arn %q: account %q is not 12 digits", s, a.account)
	}
	name := strings.TrimSuffix(a.name, ".fifo")
	if len(a.name) > 256 || name == "" || strings.TrimFunc(name, isTopicNameRune) != "" {
		return fmt.Errorf("topic arn %q: topic name %q: want 1 to 256 letters, digits, - and _ (and .fifo for a FIFO topic)", s, a.name)
	}
	return nil
}

func isTopicNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// isLowerWord reports whether s is non-empty lowercase letters, digits and
// hyphens, as partitions and regions are.
func isLowerWord(s string) bool {
	return s != "" && strings.TrimFunc(s, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-'
	}) == ""
}

// CheckEndpoint reports whether s may serve as the SNS endpoint: "" (AWS),
// or an https URL, or an http URL on loopback (127.0.0.0/8, ::1,
// localhost): the messages name PHI files and the requests carry signed
// credentials, so they never cross a network in clear. The URL holds no
// credentials, query or fragment.
func CheckEndpoint(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf(`sns endpoint %q: want "" (AWS) or an http(s) URL`, s)
	case u.User != nil:
		return fmt.Errorf("sns endpoint %q: must not hold credentials; the AWS SDK reads them from its environment", u.Redacted())
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return fmt.Errorf("sns endpoint %q: must be https unless it is on loopback (127.0.0.1, ::1, localhost): events would cross the network unencrypted", s)
	}
	return nil
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
