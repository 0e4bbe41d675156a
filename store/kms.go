package store

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMSClient is what envelope encryption asks of AWS KMS, in plain Go types:
// AES-256 data keys made, wrapped and unwrapped under a key, each bound to
// an encryption context.
type KMSClient interface {
	// GenerateDataKey makes a data key under keyID (an id, ARN or alias)
	// bound to encCtx: the key, KMS's blob of it, and the ARN of the key
	// that wrapped it.
	GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (dataKey, blob []byte, keyARN string, err error)
	// Decrypt unwraps blob under encCtx. A blob KMS did not make, or bound
	// to another context, is an error that matches ErrInvalidCiphertext.
	Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, error)
	// Encrypt and KeyARN serve only `s3sftpd rewrap` (and a rename, which
	// binds a data key to the new name): Encrypt wraps an existing data key
	// under keyID, KeyARN is the ARN of keyID.
	Encrypt(ctx context.Context, keyID string, dataKey []byte, encCtx map[string]string) (blob []byte, keyARN string, err error)
	KeyARN(ctx context.Context, keyID string) (string, error)
}

// ErrInvalidCiphertext matches KMS's refusal of a wrapped key that is not
// its own or is bound to another encryption context.
var ErrInvalidCiphertext = errors.New("kms: invalid ciphertext")

// DialKMS builds a KMS client with the region and retries of cfg and the
// credentials of the AWS default chain (never the store's static keys).
// The endpoint is AWS's, or AWS_ENDPOINT_URL_KMS when set.
func DialKMS(ctx context.Context, cfg Config) (KMSClient, error) {
	awsCfg, err := loadAWSConfig(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	return KMSClientOf(kms.NewFromConfig(awsCfg)), nil
}

// KMSClientOf is c as a KMSClient, for the tests that reach local-kms with
// a client of their own.
func KMSClientOf(c *kms.Client) KMSClient { return kmsClient{c} }

type kmsClient struct{ c *kms.Client }

func (k kmsClient) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) ([]byte, []byte, string, error) {
	out, err := k.c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, nil, "", err
	}
	return out.Plaintext, out.CiphertextBlob, aws.ToString(out.KeyId), nil
}

func (k kmsClient) Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, error) {
	out, err := k.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encCtx})
	if err != nil {
		var invalid *types.InvalidCiphertextException
		if errors.As(err, &invalid) {
			return nil, invalidCiphertext{err}
		}
		return nil, err
	}
	return out.Plaintext, nil
}

func (k kmsClient) Encrypt(ctx context.Context, keyID string, dataKey []byte, encCtx map[string]string) ([]byte, string, error) {
	out, err := k.c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: dataKey, EncryptionContext: encCtx})
	if err != nil {
		return nil, "", err
	}
	return out.CiphertextBlob, aws.ToString(out.KeyId), nil
}

func (k kmsClient) KeyARN(ctx context.Context, keyID string) (string, error) {
	out, err := k.c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return "", err
	}
	if out.KeyMetadata == nil || aws.ToString(out.KeyMetadata.Arn) == "" {
		return "", errors.New("no ARN in the answer")
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// invalidCiphertext is KMS's InvalidCiphertextException, with its text,
// matching ErrInvalidCiphertext.
type invalidCiphertext struct{ error }

func (e invalidCiphertext) Is(target error) bool { return target == ErrInvalidCiphertext }
func (e invalidCiphertext) Unwrap() error        { return e.error }
