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
// only t's home and folders, each with the actions its permissions need.
// kms adds the KMS calls SSE-KMS needs (keyARN, or any key used through S3
// in region).
//
// S3 has no permission for HEAD apart from s3:GetObject, and the gateway
// checks whether a file exists before every write, so the read actions are
// always granted; the gateway itself still refuses downloads without the
// read permission. ListBucket is granted for the home's and folders'
// prefixes only, for the same reason (stat and mkdir list a prefix).
//
// A tenant with a home and no folders gets the statements ListHome and
// ObjectsInHome; with folders, one List statement per bucket (its prefixes
// as the condition) and one Objects statement per set of actions (its
// prefixes as resources), so no grant spills from one place to another.
func SessionPolicy(t *auth.Tenant, kms bool, keyARN, region string) (string, error) {
	mounts := t.Mounts()
	if len(mounts) == 0 {
		return "", fmt.Errorf("session policy for %s: no home and no folders", t.User)
	}
	doc := policyDoc{Version: "2012-10-17"}
	lists := map[string]int{}   // bucket → its statement
	objects := map[string]int{} // actions → their statement
	for _, m := range mounts {
		bucketRes, objectRes := resources(m.Bucket, m.Prefix, region)
		if i, ok := lists[m.Bucket]; ok {
			cond := doc.Statement[i].Condition["StringLike"]
			cond["s3:prefix"] = append(cond["s3:prefix"], m.Prefix, m.Prefix+"*")
		} else {
			lists[m.Bucket] = len(doc.Statement)
			doc.Statement = append(doc.Statement, policyStatement{Sid: fmt.Sprintf("List%d", len(lists)), Effect: "Allow",
				Action: []string{"s3:ListBucket"}, Resource: []string{bucketRes},
				Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {m.Prefix, m.Prefix + "*"}}}})
		}
		actions := objectActions(m.Perms, m.Lifecycle.DeleteAfterDownload)
		if i, ok := objects[strings.Join(actions, " ")]; ok {
			doc.Statement[i].Resource = append(doc.Statement[i].Resource, objectRes)
		} else {
			objects[strings.Join(actions, " ")] = len(doc.Statement)
			doc.Statement = append(doc.Statement, policyStatement{Sid: fmt.Sprintf("Objects%d", len(objects)), Effect: "Allow",
				Action: actions, Resource: []string{objectRes}})
		}
	}
	if len(t.Folders) == 0 { // the names of the policies before folders
		doc.Statement[0].Sid, doc.Statement[1].Sid = "ListHome", "ObjectsInHome"
	}
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
		return "", fmt.Errorf("session policy for %s is %d characters, above STS's %d: shorten the home and folder prefixes", t.User, len(b), maxSessionPolicy)
	}
	return string(b), nil
}

// objectActions are the object actions permissions need. Reads: HEAD and
// GET, of the version opened, and the tags that hold the SHA-256 (checked
// on whole downloads). A pickup folder adds the delete of the version a
// whole download read (package s3fs/pickup).
func objectActions(p auth.Perms, pickup bool) []string {
	actions := []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"}
	if p.Has(auth.PermWrite) || p.Has(auth.PermOverwrite) || p.Has(auth.PermMkdir) || p.Has(auth.PermRename) {
		actions = append(actions, "s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:AbortMultipartUpload")
	}
	if p.Has(auth.PermDelete) || p.Has(auth.PermRename) {
		actions = append(actions, "s3:DeleteObject")
	}
	if pickup && p.Has(auth.PermDelete) {
		actions = append(actions, "s3:DeleteObjectVersion")
	}
	return actions
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
