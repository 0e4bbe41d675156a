package s3fs

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3control"
)

// DialControl builds the S3 Control client with which the doctor reads the
// account-level public access block: the credentials, region and retries
// of Dial, and always AWS's own endpoint, as S3 Control exists only there.
func DialControl(ctx context.Context, cfg Config) (*s3control.Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	awsCfg, err := loadAWSConfig(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	return s3control.NewFromConfig(awsCfg), nil
}
