package store

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/s3sftpd/s3sftpd/auth"
)

// maxSessionPolicy is STS's limit on an inline session policy, in
// characters of its JSON.
const maxSessionPolicy = 2048

// SessionPolicy is the IAM session policy the gateway passes when it
// assumes t's role: whatever the role allows, the session can then reach
// only t's home, with the actions t's permissions need. kms adds the KMS
// calls SSE-KMS needs (keyARN, or any key used through S3 in region).
//
// S3 has no permission for HEAD apart from s3:GetObject, and the gateway
// checks whether a file exists before every write, so the read actions are
// always granted; the gateway itself still refuses downloads without the
// read permission. ListBucket is granted for the home only, for the same
// reason (stat and mkdir list a prefix).
func SessionPolicy(t *auth.Tenant, kms bool, keyARN, region string) (string, error) {
	bucketRes, objectRes := resources(t.Bucket, t.Prefix, region)
	// Reads: HEAD and GET, of the version opened, and the tags that hold
	// the SHA-256 (checked on whole downloads).
	objActions := []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"}
	if t.Perms.Has(auth.PermWrite) || t.Perms.Has(auth.PermOverwrite) || t.Perms.Has(auth.PermMkdir) || t.Perms.Has(auth.PermRename) {
		objActions = append(objActions, "s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:AbortMultipartUpload")
	}
	if t.Perms.Has(auth.PermDelete) || t.Perms.Has(auth.PermRename) {
		objActions = append(objActions, "s3:DeleteObject")
	}
	doc := policyDoc{Version: "2012-10-17", Statement: []policyStatement{
		{Sid: "ListHome", Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: []string{bucketRes},
			Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {t.Prefix, t.Prefix + "*"}}}},
		{Sid: "ObjectsInHome", Effect: "Allow", Action: objActions, Resource: []string{objectRes}},
	}}
	if kms {
		st := policyStatement{Sid: "KMSThroughS3", Effect: "Allow", Action: []string{"kms:Decrypt", "kms:GenerateDataKey"}}
		if strings.HasPrefix(keyARN, "arn:") && strings.Contains(keyARN, ":key/") {
			st.Resource = []string{keyARN}
		} else { // the AWS managed key, an alias or a bare id: any key, but only through S3
			st.Resource = []string{"*"}
			st.Condition = map[string]map[string][]string{"StringEquals": {"kms:ViaService": {"s3." + region + ".amazonaws.com"}}}
		}
		doc.Statement = append(doc.Statement, st)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode session policy: %w", err)
	}
	if len(b) > maxSessionPolicy {
		return "", fmt.Errorf("session policy for %s is %d characters, above STS's %d: shorten the home", t.User, len(b), maxSessionPolicy)
	}
	return string(b), nil
}

// resources are the ARNs of a bucket (or access point) and of the objects
// under prefix in it.
func resources(bucket, prefix, region string) (bucketARN, objectsARN string) {
	if strings.HasPrefix(bucket, "arn:") { // access point: objects are ARN/object/KEY
		return bucket, bucket + "/object/" + prefix + "*"
	}
	arn := "arn:" + partition(region) + ":s3:::" + bucket
	return arn, arn + "/" + prefix + "*"
}

// partition is the ARN partition of a region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	}
	return "aws"
}

type policyDoc struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string][]string `json:",omitempty"`
}
