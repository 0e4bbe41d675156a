package s3fs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/s3sftpd/s3sftpd/auth"
)

// Roles routes each session's S3 calls by its tenant: a tenant with a
// RoleARN gets a client of its own whose credentials come from assuming
// that role with SessionPolicy and SourceIdentity = user name, cached and
// refreshed before they expire; everything else (tenants without a role,
// the orphan sweeper, the audit copy) uses the gateway's own client.
//
// The role client is chosen from the request's context, which Handlers
// marks with the tenant. Each role client has its own credentials cache:
// one shared cache would hand one user's credentials to another.
type Roles struct {
	base   *s3.Client
	sts    stscreds.AssumeRoleAPIClient
	kms    bool
	keyARN string
	region string

	// Credentials are renewed this long before they expire; tests shorten it.
	expiryWindow time.Duration
	duration     time.Duration // asked of STS

	mu      sync.Mutex
	clients map[string]*s3.Client // user, role, external id and policy → client
}

// NewRoles wraps base; stsClient assumes the users' roles.
func NewRoles(base *s3.Client, stsClient stscreds.AssumeRoleAPIClient, cfg Config) *Roles {
	return &Roles{base: base, sts: stsClient, kms: cfg.SSE == SSEKMS, keyARN: cfg.KMSKeyID, region: cfg.Region,
		expiryWindow: 5 * time.Minute, duration: time.Hour, clients: map[string]*s3.Client{}}
}

// DialSTS builds the STS client for NewRoles from the same credentials,
// region and retry settings as Dial; endpoint "" is AWS's regional one.
func DialSTS(ctx context.Context, cfg Config, endpoint string) (*sts.Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	awsCfg, err := loadAWSConfig(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	return sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

type tenantKey struct{}

// withTenant marks ctx with the tenant whose S3 calls it carries.
func withTenant(ctx context.Context, t *auth.Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// client is the S3 client for the tenant in ctx.
func (r *Roles) client(ctx context.Context) (*s3.Client, error) {
	t, _ := ctx.Value(tenantKey{}).(*auth.Tenant)
	if t == nil || t.RoleARN == "" {
		return r.base, nil
	}
	policy, err := SessionPolicy(t, r.kms, r.keyARN, r.region)
	if err != nil {
		return nil, err
	}
	key := t.User + "\x00" + t.RoleARN + "\x00" + t.ExternalID + "\x00" + policy
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.clients[key]; c != nil {
		return c, nil
	}
	prov := stscreds.NewAssumeRoleProvider(r.sts, t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "s3sftpd-" + t.User
		o.SourceIdentity = aws.String(t.User)
		o.Policy = aws.String(policy)
		o.Duration = r.duration
		if t.ExternalID != "" {
			o.ExternalID = aws.String(t.ExternalID)
		}
	})
	creds := aws.NewCredentialsCache(prov, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = r.expiryWindow
	})
	c := s3.New(r.base.Options(), func(o *s3.Options) {
		o.Credentials = creds
		o.ExpressCredentials = nil // re-made for this client; the base one signs with the base credentials
	})
	r.clients[key] = c
	return c, nil
}

// ClientFor is the S3 client t's calls use: its role's, or the gateway's
// own when t has no role.
func (r *Roles) ClientFor(t *auth.Tenant) (*s3.Client, error) {
	return r.client(withTenant(context.Background(), t))
}

// roleError wraps a failure to pick a client, so the caller's S3 failure
// path handles it like any S3 error.
func roleError(err error) error { return fmt.Errorf("assume role: %w", err) }

func (r *Roles) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.HeadObject(ctx, in, o...)
}

func (r *Roles) GetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.GetObject(ctx, in, o...)
}

func (r *Roles) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.PutObject(ctx, in, o...)
}

func (r *Roles) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.DeleteObject(ctx, in, o...)
}

func (r *Roles) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.CopyObject(ctx, in, o...)
}

func (r *Roles) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, o ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.ListObjectsV2(ctx, in, o...)
}

func (r *Roles) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.CreateMultipartUpload(ctx, in, o...)
}

func (r *Roles) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.UploadPart(ctx, in, o...)
}

func (r *Roles) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, o ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.UploadPartCopy(ctx, in, o...)
}

func (r *Roles) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.CompleteMultipartUpload(ctx, in, o...)
}

func (r *Roles) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.AbortMultipartUpload(ctx, in, o...)
}

func (r *Roles) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, o ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.ListMultipartUploads(ctx, in, o...)
}

func (r *Roles) PutObjectTagging(ctx context.Context, in *s3.PutObjectTaggingInput, o ...func(*s3.Options)) (*s3.PutObjectTaggingOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.PutObjectTagging(ctx, in, o...)
}

func (r *Roles) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, o ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.GetObjectTagging(ctx, in, o...)
}

func (r *Roles) GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, o ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.GetBucketVersioning(ctx, in, o...)
}

func (r *Roles) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, o ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, roleError(err)
	}
	return c.ListObjectVersions(ctx, in, o...)
}
