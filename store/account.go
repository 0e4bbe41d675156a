package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// BucketConfig is the part of the S3 API the doctor's bucket checks read
// (doctor.API): bucket configuration, nothing that writes.
type BucketConfig interface {
	GetPublicAccessBlock(context.Context, *s3.GetPublicAccessBlockInput, ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	GetBucketEncryption(context.Context, *s3.GetBucketEncryptionInput, ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	GetBucketLogging(context.Context, *s3.GetBucketLoggingInput, ...func(*s3.Options)) (*s3.GetBucketLoggingOutput, error)
	GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
	GetBucketLifecycleConfiguration(context.Context, *s3.GetBucketLifecycleConfigurationInput, ...func(*s3.Options)) (*s3.GetBucketLifecycleConfigurationOutput, error)
	GetBucketAcl(context.Context, *s3.GetBucketAclInput, ...func(*s3.Options)) (*s3.GetBucketAclOutput, error)
	GetObjectLockConfiguration(context.Context, *s3.GetObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
}

// BucketConfig is the gateway's own client, narrowed to the reads of
// bucket configuration (doctor.API).
func (s *Store) BucketConfig() BucketConfig { return s.s3 }

// Account is what the doctor reads of the AWS account: who the gateway is
// (STS) and the account's public access block (S3 Control).
type Account interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	GetPublicAccessBlock(context.Context, *s3control.GetPublicAccessBlockInput, ...func(*s3control.Options)) (*s3control.GetPublicAccessBlockOutput, error)
}

// account joins the two clients of Account.
type account struct {
	ids     *sts.Client
	control *s3control.Client
}

func (a account) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, o ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return a.ids.GetCallerIdentity(ctx, in, o...)
}

func (a account) GetPublicAccessBlock(ctx context.Context, in *s3control.GetPublicAccessBlockInput, o ...func(*s3control.Options)) (*s3control.GetPublicAccessBlockOutput, error) {
	return a.control.GetPublicAccessBlock(ctx, in, o...)
}

// Account builds the clients of the doctor's account check: the
// credentials, region and retries of Dial, and always AWS's own S3 Control
// endpoint, as S3 Control exists only there. It sends no request.
func (s *Store) Account(ctx context.Context) (Account, error) {
	awsCfg, err := loadAWSConfig(ctx, s.cfg, true)
	if err != nil {
		return nil, err
	}
	return account{ids: s.sts, control: s3control.NewFromConfig(awsCfg)}, nil
}
