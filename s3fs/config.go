package s3fs

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/s3sftpd/s3sftpd/crypt"
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

// Config is what s3fs needs to reach a store.
type Config struct {
	Endpoint  string // base URL; empty means AWS
	Region    string
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when set, replace the AWS default
	// credential chain (used for the embedded store and tests).
	AccessKeyID, SecretAccessKey string

	SSE       string // SSEAES256 or SSEKMS, applied to every write
	KMSKeyID  string // with SSEKMS; empty means the AWS managed key
	Checksums string // ChecksumsAWS or ChecksumsCompat

	// TempSuffixes end the temporary names clients upload to and then rename
	// (".filepart", or ".*.partial" where "*" is one dot-free segment); nil
	// is DefaultTempSuffixes. Such an upload stays pending until its rename.
	TempSuffixes []string

	PartSize     int64 // first part size, ≥ 5 MiB
	UploadMemory int64 // process-wide budget for upload buffers, ≥ PartSize
	// UploadMemoryShare is the most of UploadMemory one user's uploads hold
	// together, unless its Tenant sets its own: a user at its share waits,
	// others go on. 0 is a quarter of UploadMemory, at least PartSize + 16 MiB.
	UploadMemoryShare int64
	// UploadMemoryWait bounds a write's wait for upload memory: past it the
	// write fails with a message saying so. 0 is DefaultUploadMemoryWait.
	UploadMemoryWait time.Duration
	// ReadAheadMemory is the process-wide budget for download read-ahead;
	// 0 is DefaultReadAheadMemory. Each user's share of it is the tenant's
	// Limits.ReadAheadMemory.
	ReadAheadMemory int64
	// Throttled, if set, is told of time a transfer lost to a limit, with
	// a reason such as ThrottledReadAheadMemory (for the metrics).
	Throttled func(reason string, d time.Duration)

	// RetryMode is the SDK's retry strategy, RetryStandard (exponential
	// backoff with jitter) or RetryAdaptive (also slows the client down when
	// S3 throttles); "" is standard. MaxAttempts bounds the tries of one
	// request, the first included; 0 is DefaultMaxAttempts.
	RetryMode   string
	MaxAttempts int

	// Keys unwraps the data keys of envelope-encrypted objects; nil reads
	// only plaintext objects. With Envelope, every new object is
	// encrypted at the gateway under Keys.Current (SSE still applies on
	// top), and every object read must be encrypted.
	Keys     *crypt.Keyring
	Envelope bool
	// KMS, when set, makes the data keys of new objects under Envelope
	// (and unwraps those it made) instead of Keys.
	KMS *KMS
	// RefuseFormat1 makes downloads and renames refuse envelope objects of
	// format version 1, whose data keys are bound to no name: once rewrap
	// has upgraded every object, one a bucket writer copies over another
	// name (or restores from an old version) then fails instead of
	// decrypting. `rewrap` and `decrypt` still read them.
	RefuseFormat1 bool
	// NameKey, when set, encrypts object names: every path segment below a
	// tenant's prefix, with a key derived from NameKey, bucket and prefix.
	NameKey *crypt.KEK
	// HideNames is set with audit paths = "hmac": logs of no session (the
	// orphan sweep) then show no request URL, which holds an object key.
	HideNames bool

	// APIOptions are added to every S3 request's middleware stack (the
	// metrics' latency and error counts). They must not change requests.
	APIOptions []func(*middleware.Stack) error
}

// Retry modes, and the default bound on tries of one request.
const (
	RetryStandard      = "standard"
	RetryAdaptive      = "adaptive"
	DefaultMaxAttempts = 5
	// DefaultUploadMemoryWait is long enough for parts in flight to reach a
	// slow S3, short enough that a client is told before it gives up.
	DefaultUploadMemoryWait = time.Minute
)

const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
	maxParts    = 10000
)

func (c Config) validate() error {
	switch {
	case c.SSE != SSEAES256 && c.SSE != SSEKMS:
		return configError("sse must be %q or %q, got %q", SSEAES256, SSEKMS, c.SSE)
	case c.Checksums != ChecksumsAWS && c.Checksums != ChecksumsCompat:
		return configError("checksums must be %q or %q, got %q", ChecksumsAWS, ChecksumsCompat, c.Checksums)
	case c.PartSize < minPartSize || c.PartSize > maxPartSize:
		return configError("part size %d outside 5 MiB..5 GiB", c.PartSize)
	case c.UploadMemory < c.PartSize:
		return configError("upload memory %d is below the part size %d", c.UploadMemory, c.PartSize)
	case c.UploadMemoryShare != 0 && (c.UploadMemoryShare < c.PartSize || c.UploadMemoryShare > c.UploadMemory):
		return configError("upload memory share %d outside the part size %d..upload memory %d", c.UploadMemoryShare, c.PartSize, c.UploadMemory)
	case c.UploadMemoryWait < 0:
		return configError("upload memory wait %v is negative", c.UploadMemoryWait)
	case c.RetryMode != "" && c.RetryMode != RetryStandard && c.RetryMode != RetryAdaptive:
		return configError("retry mode must be %q or %q, got %q", RetryStandard, RetryAdaptive, c.RetryMode)
	case c.ReadAheadMemory < 0:
		return configError("read-ahead memory %d is negative", c.ReadAheadMemory)
	case c.MaxAttempts < 0:
		return configError("max attempts %d is negative", c.MaxAttempts)
	case c.Envelope && (c.Keys == nil || c.Keys.Current == nil) && c.KMS == nil:
		return configError("envelope encryption needs a key-encryption key")
	}
	for _, s := range c.TempSuffixes {
		if !validTempSuffix(s) {
			return configError("temporary suffix %q must be \".name\" or \".*.name\"", s)
		}
	}
	return nil
}

func (c Config) tempSuffixes() []string {
	if c.TempSuffixes == nil {
		return DefaultTempSuffixes
	}
	return c.TempSuffixes
}

// Dial builds an S3 client for cfg. Credentials come from the AWS default
// chain (environment, shared config, SSO, instance profile) unless cfg names
// static keys.
func Dial(ctx context.Context, cfg Config) (*s3.Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	awsCfg, err := loadAWSConfig(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	awsCfg.HTTPClient = &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		ForceAttemptHTTP2:   true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		o.APIOptions = append(o.APIOptions, cfg.APIOptions...)
	}), nil
}

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

// encryption is the server-side encryption every write carries.
type encryption struct {
	sse      string
	kmsKeyID string
}

// WriteEncryption is the server-side encryption every object written under
// c carries, and the KMS key it names (nil unless SSE-KMS with a key id): for
// the writers outside s3fs (ops.AuditShipper) that store objects encrypted
// like every other.
func (c Config) WriteEncryption() (types.ServerSideEncryption, *string) {
	e := encryption{sse: c.SSE, kmsKeyID: c.KMSKeyID}
	return e.mode(), e.keyID()
}

func (e encryption) mode() types.ServerSideEncryption { return types.ServerSideEncryption(e.sse) }

func (e encryption) keyID() *string {
	if e.sse == SSEKMS && e.kmsKeyID != "" {
		return aws.String(e.kmsKeyID)
	}
	return nil
}
