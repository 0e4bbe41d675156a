package s3fs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/s3sftpd/s3sftpd/auth"
	"github.com/s3sftpd/s3sftpd/crypt"
)

// KMSClient is the part of the AWS KMS client that envelope encryption uses.
type KMSClient interface {
	GenerateDataKey(context.Context, *kms.GenerateDataKeyInput, ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(context.Context, *kms.DecryptInput, ...func(*kms.Options)) (*kms.DecryptOutput, error)
	// Encrypt and DescribeKey serve only `s3sftpd rewrap`, which moves
	// data keys to the current KMS key.
	Encrypt(context.Context, *kms.EncryptInput, ...func(*kms.Options)) (*kms.EncryptOutput, error)
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// KMS takes envelope data keys from AWS KMS instead of a local KEK: one
// GenerateDataKey per object written, one Decrypt per object opened. The
// encryption context names the tenant (bucket and home), so KMS refuses a
// data key in an object moved to another tenant's home, and CloudTrail
// records which tenant's data was opened.
type KMS struct {
	Client KMSClient
	KeyID  string // key id, ARN or alias of the KMS key
}

// Object metadata of a KMS-wrapped data key: MetaKEK is kmsPrefix plus the
// key ARN KMS answered, MetaDEK the CiphertextBlob, and metaContext the
// tenant of the encryption context (for `s3sftpd decrypt`, which knows no tenant).
const (
	kmsPrefix   = "kms:"
	metaContext = crypt.MetaContext
	contextKey  = "s3sftpd-tenant"
)

// DialKMS builds a KMS client with the region, credentials and retries of cfg.
// The endpoint is AWS's, or AWS_ENDPOINT_URL_KMS when set.
func DialKMS(ctx context.Context, cfg Config) (*kms.Client, error) {
	awsCfg, err := loadAWSConfig(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	return kms.NewFromConfig(awsCfg), nil
}

// tenantContext is the encryption-context value of a tenant.
func tenantContext(t *auth.Tenant) string { return t.Bucket + "/" + t.Prefix }

func isKMSWrapped(meta map[string]string) bool {
	id := crypt.MetaValue(meta, crypt.MetaKEK)
	return strings.HasPrefix(id, kmsPrefix)
}

// newDataKey asks KMS for a data key for tenant.
func (k *KMS) newDataKey(ctx context.Context, tenant string) ([]byte, map[string]string, error) {
	out, err := k.Client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(k.KeyID), KeySpec: types.DataKeySpecAes256,
		EncryptionContext: map[string]string{contextKey: tenant},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kms generate data key: %w", err)
	}
	if len(out.Plaintext) != crypt.KeySize {
		return nil, nil, fmt.Errorf("kms generate data key: %d bytes, want %d", len(out.Plaintext), crypt.KeySize)
	}
	return out.Plaintext, kmsMetadata(aws.ToString(out.KeyId), out.CiphertextBlob, tenant), nil
}

// kmsMetadata is the object metadata of a data key KMS key arn wrapped
// into blob under tenant's encryption context.
func kmsMetadata(arn string, blob []byte, tenant string) map[string]string {
	return map[string]string{
		crypt.MetaVersion: crypt.Version,
		crypt.MetaKEK:     kmsPrefix + arn,
		crypt.MetaDEK:     base64.StdEncoding.EncodeToString(blob),
		metaContext:       tenant,
	}
}

// wrap has KMS encrypt an existing data key under the configured key and
// tenant's encryption context: the metadata it returns is what
// GenerateDataKey would have given a new object of that tenant.
func (k *KMS) wrap(ctx context.Context, tenant string, dataKey []byte) (map[string]string, error) {
	out, err := k.Client.Encrypt(ctx, &kms.EncryptInput{
		KeyId: aws.String(k.KeyID), Plaintext: dataKey,
		EncryptionContext: map[string]string{contextKey: tenant},
	})
	if err != nil {
		return nil, fmt.Errorf("kms encrypt data key: %w", err)
	}
	return kmsMetadata(aws.ToString(out.KeyId), out.CiphertextBlob, tenant), nil
}

// keyARN is the ARN of the configured key (which may be named by id or
// alias): the id objects wrapped by it record.
func (k *KMS) keyARN(ctx context.Context) (string, error) {
	out, err := k.Client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k.KeyID)})
	if err != nil {
		return "", fmt.Errorf("kms describe key %s: %w", k.KeyID, err)
	}
	if out.KeyMetadata == nil || aws.ToString(out.KeyMetadata.Arn) == "" {
		return "", fmt.Errorf("kms describe key %s: no ARN in the answer", k.KeyID)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// dataKey has KMS unwrap an object's data key under tenant's context; a
// key wrapped for another tenant fails, as does tampered metadata.
func (k *KMS) dataKey(ctx context.Context, tenant string, meta map[string]string) ([]byte, error) {
	if v := crypt.MetaValue(meta, crypt.MetaVersion); v != crypt.Version {
		return nil, fmt.Errorf("unsupported encryption format version %q", v)
	}
	dek := crypt.MetaValue(meta, crypt.MetaDEK)
	blob, err := base64.StdEncoding.DecodeString(dek)
	if err != nil {
		return nil, fmt.Errorf("decode wrapped data key: %w", crypt.ErrAuth)
	}
	out, err := k.Client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob: blob, EncryptionContext: map[string]string{contextKey: tenant},
	})
	if err != nil {
		var invalid *types.InvalidCiphertextException
		if errors.As(err, &invalid) {
			return nil, fmt.Errorf("kms decrypt: %v: %w", err, crypt.ErrAuth)
		}
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	if len(out.Plaintext) != crypt.KeySize {
		return nil, fmt.Errorf("kms decrypt: %d bytes: %w", len(out.Plaintext), crypt.ErrAuth)
	}
	return out.Plaintext, nil
}

// dataKey unwraps an object's data key from its metadata: with KMS when KMS
// wrapped it, under tenant's encryption context, else with the local KEKs.
func (fs *FS) dataKey(ctx context.Context, tenant string, meta map[string]string) ([]byte, error) {
	if isKMSWrapped(meta) {
		if fs.kms == nil {
			return nil, fmt.Errorf("data key wrapped by KMS: %w", crypt.ErrUnknownKEK)
		}
		return fs.kms.dataKey(ctx, tenant, meta)
	}
	if fs.keys == nil {
		return nil, crypt.ErrUnknownKEK
	}
	return fs.keys.DataKey(meta)
}
