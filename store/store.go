// Package store owns every AWS SDK client of the gateway: S3 (with its
// retries, checksum mode and HTTP transport), STS (per-user role
// credentials, with the session policy that holds a role to its home), KMS
// (envelope data keys) and S3 Control (the doctor's account check). It
// dials them from Config, which cmd fills from the config file (store
// reads no file), and routes each S3 call to the credentials of the user
// whose session made it (see WithTenant).
//
// The rule it carries: only store imports aws-sdk-go-v2/service/*, besides
// doctor's read-only checks, the SDK baseline bench/s3direct and the test
// helpers; cmd, ops, s3fs and the packages under s3fs import nothing of the
// SDK. internal/layout checks both. Nothing outside store holds a
// *s3.Client or builds an SDK request: s3fs takes Objects (plain request
// structs that store shapes into S3 calls, adding the Config's server-side
// encryption and checksum mode to every write), envelope encryption the
// KMSClient interface, the doctor BucketConfig and Account, and cmd and ops
// call methods with plain Go signatures (Ready, PutNew, Get, Head,
// PresignGet, Walk, ...). Its errors are the SDK's, for the log and the
// audit trail only; callers branch on them with IsNotFound, IsPrecondition,
// IsNotImplemented, ErrorCode and HTTPStatus. It decides nothing about
// jails, permissions or the object format: those are the callers'.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
)

// Checksum modes.
const (
	ChecksumsAWS    = "aws"    // CRC32C on every put and part, and of the whole object on complete
	ChecksumsCompat = "compat" // checksums only where S3 requires them, for S3-compatible stores
)

// Server-side encryption values. There is deliberately no value that turns encryption off.
const (
	SSEAES256 = "AES256"
	SSEKMS    = "aws:kms"
)

// Retry modes, and the default bound on tries of one request.
const (
	RetryStandard      = "standard"
	RetryAdaptive      = "adaptive"
	DefaultMaxAttempts = 5
)

// Config is how to reach the store and with which identity.
type Config struct {
	Endpoint  string // base URL; empty means AWS
	Region    string
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when set, replace the AWS default
	// credential chain for S3, STS and S3 Control (used for the embedded
	// store and tests); KMS always uses the default chain.
	AccessKeyID, SecretAccessKey string
	// STSEndpoint is where users' roles are assumed; "" is AWS's regional one.
	STSEndpoint string

	// SSE (SSEAES256 or SSEKMS) and KMSKeyID (with SSEKMS; "" is the AWS
	// managed key) are the server-side encryption of the objects store
	// writes itself (audit segments), and what the session policies of
	// roles allow of KMS.
	SSE, KMSKeyID string
	Checksums     string // ChecksumsAWS or ChecksumsCompat

	// RetryMode is the SDK's retry strategy, RetryStandard (exponential
	// backoff with jitter) or RetryAdaptive (also slows the client down when
	// S3 throttles); "" is standard. MaxAttempts bounds the tries of one
	// request, the first included; 0 is DefaultMaxAttempts.
	RetryMode   string
	MaxAttempts int

	// APIOptions are added to every S3 request's middleware stack (the
	// metrics' latency and error counts). They must not change requests.
	APIOptions []func(*middleware.Stack) error
}

// ErrBadConfig marks a Config that Dial refuses.
var ErrBadConfig = errors.New("store config")

func configError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, a...)...)
}

// Validate refuses a Config that names no known encryption, checksum or
// retry mode; s3fs checks its own Config, which embeds this one, with it.
func (c Config) Validate() error {
	switch {
	case c.SSE != SSEAES256 && c.SSE != SSEKMS:
		return configError("sse must be %q or %q, got %q", SSEAES256, SSEKMS, c.SSE)
	case c.Checksums != ChecksumsAWS && c.Checksums != ChecksumsCompat:
		return configError("checksums must be %q or %q, got %q", ChecksumsAWS, ChecksumsCompat, c.Checksums)
	case c.RetryMode != "" && c.RetryMode != RetryStandard && c.RetryMode != RetryAdaptive:
		return configError("retry mode must be %q or %q, got %q", RetryStandard, RetryAdaptive, c.RetryMode)
	case c.MaxAttempts < 0:
		return configError("max attempts %d is negative", c.MaxAttempts)
	}
	return nil
}

// Store is the gateway's way to AWS: its own S3 client, and the users'
// role clients made from it on demand.
type Store struct {
	cfg   Config
	s3    *s3.Client  // the gateway's own identity
	sts   *sts.Client // assumes the users' roles
	roles *roles
}

// Dial builds the S3 and STS clients of cfg; it sends no request.
// Credentials come from the AWS default chain (environment, shared config,
// SSO, instance profile) unless cfg names static keys.
func Dial(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	awsCfg, err := loadAWSConfig(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	stsClient := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		if cfg.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.STSEndpoint)
		}
	})
	awsCfg.HTTPClient = &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		ForceAttemptHTTP2:   true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		o.APIOptions = append(o.APIOptions, cfg.APIOptions...)
	})
	return &Store{cfg: cfg, s3: client, sts: stsClient, roles: newRoles(client, stsClient, cfg)}, nil
}

// S3 is the SDK-typed client Objects works over: each call runs with the
// credentials of the tenant its context carries (WithTenant), or the
// gateway's own when it carries none. Only the SDK baseline bench/s3direct
// and tests call it directly; the gateway goes through Objects.
func (s *Store) S3() S3 { return s.roles }

// loadAWSConfig is the SDK configuration of cfg: region, retries, checksum
// mode and, when static is set and cfg names them, static credentials (the
// store's keys; other AWS services use the default chain).
func loadAWSConfig(ctx context.Context, cfg Config, static bool) (aws.Config, error) {
	attempts, mode := cfg.MaxAttempts, aws.RetryModeStandard
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}
	if cfg.RetryMode == RetryAdaptive {
		mode = aws.RetryModeAdaptive
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithRetryMode(mode),
		awsconfig.WithRetryMaxAttempts(attempts),
		awsconfig.WithLogger(logging.Nop{}), // the SDK's own debug lines would go to stderr unstructured
	}
	if static && cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	if cfg.Checksums == ChecksumsCompat {
		opts = append(opts,
			awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return awsCfg, nil
}
