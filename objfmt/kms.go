package objfmt

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// KMSPrefix starts the MetaKEK of a data key AWS KMS wrapped; the rest is
// the ARN of the KMS key. MetaDEK then holds KMS's CiphertextBlob.
const KMSPrefix = "kms:"

// The keys of a KMS data key's encryption context. KMS refuses to decrypt
// under any other context, and CloudTrail records it, so it names the
// tenant but never an object key (ContextObject is a digest).
const (
	ContextTenant = "s3sftpd-tenant" // BUCKET/HOME, as MetaContext
	ContextObject = "s3sftpd-object" // version 2: BindingDigest of the key and object id
)

// KMSWrapped reports whether meta's data key was wrapped by KMS rather than
// by a local KEK.
func KMSWrapped(meta map[string]string) bool {
	return strings.HasPrefix(MetaValue(meta, MetaKEK), KMSPrefix)
}

// EncryptionContext is the KMS encryption context of a data key of format
// version for an object at b with id objectID: the tenant, and from
// version 2 a digest of the key below the home and the object id, so KMS
// refuses the data key of an object moved to another name or home.
func EncryptionContext(version string, b Binding, objectID string) map[string]string {
	c := map[string]string{ContextTenant: b.Tenant()}
	if version != Version1 {
		c[ContextObject] = BindingDigest(b, objectID)
	}
	return c
}

// KMSMetadata is the version-2 object metadata of a data key the KMS key
// arn wrapped into blob, under EncryptionContext(Version, b, objectID).
func KMSMetadata(arn string, blob []byte, b Binding, objectID string) map[string]string {
	m := map[string]string{
		MetaVersion: Version,
		MetaKEK:     KMSPrefix + arn,
		MetaDEK:     base64.StdEncoding.EncodeToString(blob),
		MetaContext: b.Tenant(),
	}
	if objectID != "" {
		m[MetaObjectID] = objectID
	}
	return m
}

// KMSCiphertext is what to hand KMS Decrypt for the data key of an object
// at b: the CiphertextBlob in meta and the encryption context it must have
// been wrapped under. Metadata that cannot be a KMS-wrapped key fails with
// ErrAuth, an unknown format version with an error that names it.
func KMSCiphertext(meta map[string]string, b Binding) (blob []byte, context map[string]string, err error) {
	v := MetaValue(meta, MetaVersion)
	if v != Version && v != Version1 {
		return nil, nil, fmt.Errorf("unsupported encryption format version %q", v)
	}
	blob, err = base64.StdEncoding.DecodeString(MetaValue(meta, MetaDEK))
	if err != nil {
		return nil, nil, fmt.Errorf("decode wrapped data key: %w", ErrAuth)
	}
	return blob, EncryptionContext(v, b, MetaValue(meta, MetaObjectID)), nil
}
