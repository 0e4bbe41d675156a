package doctor

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// tlsPolicy needs a statement that denies every S3 action on the bucket's
// objects to everyone when aws:SecureTransport is false: only then does a
// misconfigured client fail instead of sending PHI in clear text.
func tlsPolicy(bucket string) func(*s3.GetBucketPolicyOutput, error) Result {
	return func(out *s3.GetBucketPolicyOutput, err error) Result {
		const ctl = CtlTLSPolicy
		fix := `add to the bucket policy: {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::` + bucket +
			`","arn:aws:s3:::` + bucket + `/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}`
		if err != nil {
			r, missing := unread(ctl, err, "NoSuchBucketPolicy")
			if !missing {
				return r
			}
			return Result{Control: ctl, Status: Fail, Why: "no bucket policy", Fix: fix}
		}
		var doc policy
		if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil {
			return Result{Control: ctl, Status: Unknown, Why: "policy is not JSON the check understands", Fix: "check by hand"}
		}
		for _, st := range doc.Statement {
			if st.deniesInsecureTransport(bucket) {
				return Result{Control: ctl, Status: Pass, Why: "denies aws:SecureTransport = false"}
			}
		}
		return Result{Control: ctl, Status: Fail, Why: "no statement denies requests without TLS", Fix: fix}
	}
}

// policy is the part of an IAM policy document the check reads. Fields
// that may be a string or a list are decoded as strOrList.
type policy struct {
	Statement statements `json:"Statement"`
}

type statement struct {
	Effect    string                     `json:"Effect"`
	Principal json.RawMessage            `json:"Principal"`
	Action    strOrList                  `json:"Action"`
	Resource  strOrList                  `json:"Resource"`
	Condition map[string]json.RawMessage `json:"Condition"`
}

// statements accepts a single statement object as well as a list.
type statements []statement

func (s *statements) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var one statement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = statements{one}
		return nil
	}
	return json.Unmarshal(b, (*[]statement)(s))
}

type strOrList []string

func (s *strOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = strOrList{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

func (st statement) deniesInsecureTransport(bucket string) bool {
	if st.Effect != "Deny" || !everyone(st.Principal) {
		return false
	}
	if !anyMatch(st.Action, "s3:GetObject") || !anyMatch(st.Action, "s3:PutObject") {
		return false
	}
	if !anyMatch(st.Resource, "arn:aws:s3:::"+bucket+"/any-key") {
		return false
	}
	raw, ok := st.Condition["Bool"]
	if !ok {
		return false
	}
	var cond map[string]strOrList
	if json.Unmarshal(raw, &cond) != nil {
		var boolCond map[string]bool // "aws:SecureTransport": false, unquoted
		if json.Unmarshal(raw, &boolCond) != nil {
			return false
		}
		v, ok := boolCond["aws:SecureTransport"]
		return ok && !v
	}
	for k, vs := range cond {
		if strings.EqualFold(k, "aws:SecureTransport") && len(vs) == 1 && strings.EqualFold(vs[0], "false") {
			return true
		}
	}
	return false
}

// everyone reports whether a Principal is "*" or {"AWS": "*"}.
func everyone(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == "*"
	}
	var m map[string]strOrList
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for _, v := range m["AWS"] {
		if v == "*" {
			return true
		}
	}
	return false
}

// anyMatch reports whether a pattern in pats (IAM wildcards * and ?,
// case-insensitive for actions) matches s.
func anyMatch(pats []string, s string) bool {
	for _, p := range pats {
		if glob(strings.ToLower(p), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

// glob matches IAM wildcards: * any run of characters, ? one character.
func glob(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if glob(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}
