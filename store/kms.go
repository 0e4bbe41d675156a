package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// KMSClient is the part of the AWS KMS API that envelope encryption uses.
type KMSClient interface {
	GenerateDataKey(context.Context, *kms.GenerateDataKeyInput, ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(context.Context, *kms.DecryptInput, ...func(*kms.Options)) (*kms.DecryptOutput, error)
	// Encrypt and DescribeKey serve only `s3sftpd rewrap`, which moves
	// data keys to the current KMS key.
	Encrypt(context.Context, *kms.EncryptInput, ...func(*kms.Options)) (*kms.EncryptOutput, error)
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// DialKMS builds a KMS client with the region and retries of cfg and the
// credentials of the AWS default chain (never the store's static keys).
// The endpoint is AWS's, or AWS_ENDPOINT_URL_KMS when set.
func DialKMS(ctx context.Context, cfg Config) (KMSClient, error) {
	awsCfg, err := loadAWSConfig(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	return kms.NewFromConfig(awsCfg), nil
}
