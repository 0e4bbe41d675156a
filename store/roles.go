package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3sftpd/s3sftpd/auth"
)

// S3 is the part of the SDK's S3 API that Objects calls. Store.S3
// returns one that routes each call by the tenant of its context; tests
// wrap it to change requests below Objects (NewObjects).
type S3 interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	ListMultipartUploads(context.Context, *s3.ListMultipartUploadsInput, ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
	PutObjectTagging(context.Context, *s3.PutObjectTaggingInput, ...func(*s3.Options)) (*s3.PutObjectTaggingOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// roles routes each S3 call by the tenant of its context: a tenant with a
// RoleARN gets a client of its own whose credentials come from assuming
// that role with SessionPolicy and SourceIdentity = user name, cached and
// refreshed before they expire; everything else (tenants without a role,
// the orphan sweeper, the audit copy) uses the gateway's own client.
//
// Each role client has its own credentials cache: one shared cache would
// hand one user's credentials to another.
type roles struct {
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

func newRoles(base *s3.Client, stsClient stscreds.AssumeRoleAPIClient, cfg Config) *roles {
	return &roles{base: base, sts: stsClient, kms: cfg.SSE == SSEKMS, keyARN: cfg.KMSKeyID, region: cfg.Region,
		expiryWindow: 5 * time.Minute, duration: time.Hour, clients: map[string]*s3.Client{}}
}

type tenantKey struct{}

// WithTenant marks ctx with the tenant whose S3 calls it carries: calls
// through Store.S3 with this context run as the tenant's role, if it has one.
func WithTenant(ctx context.Context, t *auth.Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// client is the S3 client for the tenant in ctx.
func (r *roles) client(ctx context.Context) (*s3.Client, error) {
	t, _ := ctx.Value(tenantKey{}).(*auth.Tenant)
	return r.clientFor(t)
}

// clientFor is the S3 client t's calls use: its role's, or the gateway's
// own when t is nil or has no role.
func (r *roles) clientFor(t *auth.Tenant) (*s3.Client, error) {
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

// CheckRole reports whether t's calls can run as t's role: one with a role
// needs a session policy within STS's limit. It sends no request (the role
// is assumed at the first call).
func (s *Store) CheckRole(t *auth.Tenant) error {
	_, err := s.roles.clientFor(t)
	return err
}

// routed makes one call with the client of ctx's tenant. A failure to get
// that client is wrapped like an S3 error, so the caller's S3 failure path
// handles it.
func routed[In, Out any](r *roles, ctx context.Context, in In, o []func(*s3.Options),
	call func(*s3.Client, context.Context, In, ...func(*s3.Options)) (Out, error)) (Out, error) {
	c, err := r.client(ctx)
	if err != nil {
		var zero Out
		return zero, fmt.Errorf("assume role: %w", err)
	}
	return call(c, ctx, in, o...)
}

func (r *roles) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).HeadObject)
}

func (r *roles) GetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).GetObject)
}

func (r *roles) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).PutObject)
}

func (r *roles) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).DeleteObject)
}

func (r *roles) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).CopyObject)
}

func (r *roles) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, o ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return routed(r, ctx, in, o, (*s3.Client).ListObjectsV2)
}

func (r *roles) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).CreateMultipartUpload)
}

func (r *roles) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).UploadPart)
}

func (r *roles) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, o ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).UploadPartCopy)
}

func (r *roles) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).CompleteMultipartUpload)
}

func (r *roles) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).AbortMultipartUpload)
}

func (r *roles) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, o ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).ListMultipartUploads)
}

func (r *roles) PutObjectTagging(ctx context.Context, in *s3.PutObjectTaggingInput, o ...func(*s3.Options)) (*s3.PutObjectTaggingOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).PutObjectTagging)
}

func (r *roles) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, o ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).GetObjectTagging)
}

func (r *roles) GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, o ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).GetBucketVersioning)
}

func (r *roles) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, o ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	return routed(r, ctx, in, o, (*s3.Client).ListObjectVersions)
}
