// Package aws is the CloudFormation provider: each environment is one
// CloudFormation stack, created from the template version's CloudFormation
// body with the environment's parameters, tagged with Mayfly's marks, and
// deleted on destroy. It talks to AWS through aws-sdk-go-v2 only; credentials,
// region and endpoints come from the aws.Config the caller loads (the SDK's
// standard chain), never from environment variables read here.
package aws

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/mayflyhq/mayfly/envs"
)

// Name is the value templates put in their `provider` field.
const Name = "aws"

// Tag keys Mayfly puts on every stack it creates (CloudFormation propagates
// stack tags to the resources that support them).
const (
	TagEnvironment = "mayfly:environment-id"
	// TagStack is the stack's own id (envs.ProvisionRequest.StackID), so
	// two stacks of one environment (a replace) are told apart.
	TagStack         = "mayfly:stack-id"
	TagInstance      = "mayfly:instance-id"
	TagOwner         = "mayfly:owner"
	TagTemplate      = "mayfly:template"
	TagExpiresAt     = "mayfly:expires-at"
	TagSnapshot      = "mayfly:snapshot"
	TagSnapshotTaken = "mayfly:snapshot-taken-at"
	TagHealthOutput  = "mayfly:health-output"
	// TagRole records the role a template assumes, so a listed stack's
	// handle is the same string as the environment's.
	TagRole = "mayfly:role-arn"
)

// Config wires a Provider.
type Config struct {
	// AWS is the SDK configuration loaded once at start-up
	// (config.LoadDefaultConfig): credentials, default region, endpoints.
	AWS aws.Config
	// InstanceID is this Mayfly installation's id; stacks carry it so the
	// orphan sweep never touches another installation's stacks.
	InstanceID string
	Logger     *slog.Logger
	// MaxBackoff caps the SDK retryer's delay between attempts (default
	// 20s, the SDK's own; tests lower it).
	MaxBackoff time.Duration
	// RetryMode is the SDK retryer: adaptive (the default) or standard.
	RetryMode aws.RetryMode
	// HTTPClient checks a stack's health output (default: 5s timeout,
	// redirects only within the URL's scheme and host, and no connection
	// to the addresses healthClient refuses unless HealthAllow has them).
	HTTPClient interface {
		Do(*http.Request) (*http.Response, error)
	}
	// HealthAllow are address ranges a health output may reach although
	// they are refused by default: loopback, link-local (where cloud
	// metadata services answer) and the other addresses refusedAddr names.
	HealthAllow []netip.Prefix
	// Clock is used for snapshot ages and event cursors (default time.Now).
	Clock func() time.Time
	// HealthInterval is the least time between two health checks of the
	// ready environments' stacks (default 1m; see StackHealth).
	HealthInterval time.Duration
	// OutputRetry is how long a health check waits before asking a health
	// output that failed once again (default 2s; see StackHealth).
	OutputRetry time.Duration
	// DriftPoll is the longest wait between two questions about a drift
	// detection in progress (default 5s; see DetectDrift).
	DriftPoll time.Duration
}

// Provider implements envs.Provider on CloudFormation.
type Provider struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	clients map[clientKey]*clients
	// seen remembers, per stack, the provider events already reported, so
	// Status reports each once (see docs/decisions.md: kept in memory).
	seen map[string]map[string]bool
	// reported remembers the DELETE_FAILED event already returned as an
	// error per stack, so the next Destroy retries instead of failing again.
	reported map[string]string

	// healthAt is when StackHealth last checked (guarded by mu).
	healthAt time.Time

	reachable atomic.Int32 // 0 unknown, 1 yes, 2 no
	lastCheck atomic.Pointer[Reachability]
}

type clientKey struct{ region, role string }

type clients struct {
	cfn *cloudformation.Client
	rds *rds.Client
	sts *sts.Client
}

// New returns a provider; it does not contact AWS.
func New(cfg Config) *Provider {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 20 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = time.Minute
	}
	if cfg.OutputRetry == 0 {
		cfg.OutputRetry = 2 * time.Second
	}
	if cfg.DriftPoll == 0 {
		cfg.DriftPoll = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = healthClient(cfg.HealthAllow)
	}
	return &Provider{cfg: cfg, log: cfg.Logger, clients: map[clientKey]*clients{},
		seen: map[string]map[string]bool{}, reported: map[string]string{}}
}

// Name implements envs.Provider.
func (p *Provider) Name() string { return Name }

// DefaultRegion is the region stacks go to unless a template names another.
func (p *Provider) DefaultRegion() string { return p.cfg.AWS.Region }

// client returns the SDK clients for a region and an optional role, built
// once and shared: clients are safe for concurrent use and keep their
// retryer's token bucket and the assumed role's cached credentials.
func (p *Provider) client(region, role string) *clients {
	if region == "" {
		region = p.cfg.AWS.Region
	}
	key := clientKey{region, role}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c
	}
	cfg := p.cfg.AWS.Copy()
	cfg.Region = region
	// Adaptive mode adds client-side rate limiting on top of the standard
	// retries: when CloudFormation throttles (DescribeStackEvents under many
	// polling environments), the client slows down instead of burning its
	// retry quota.
	maxBackoff, mode := p.cfg.MaxBackoff, p.cfg.RetryMode
	standard := func(so *retry.StandardOptions) {
		so.MaxAttempts = 5
		so.MaxBackoff = maxBackoff
	}
	cfg.Retryer = func() aws.Retryer {
		if mode == aws.RetryModeStandard {
			return retry.NewStandard(standard)
		}
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, standard)
		})
	}
	if role != "" {
		base := sts.NewFromConfig(cfg)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(base, role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "mayfly-" + p.cfg.InstanceID
		}))
	}
	c := &clients{cfn: cloudformation.NewFromConfig(cfg), rds: rds.NewFromConfig(cfg), sts: sts.NewFromConfig(cfg)}
	p.clients[key] = c
	return c
}

// Reachability is the outcome of the last check of AWS.
type Reachability struct {
	CheckedAt time.Time `json:"checked_at"`
	Reachable bool      `json:"reachable"`
	Account   string    `json:"account,omitempty"`
	Arn       string    `json:"arn,omitempty"`
	Region    string    `json:"region"`
	Error     string    `json:"error,omitempty"`
}

// Check asks STS who we are (GetCallerIdentity needs no permission) and
// remembers the answer for the admin view and publish-time validation.
func (p *Provider) Check(ctx context.Context) Reachability {
	r := Reachability{CheckedAt: p.cfg.Clock().UTC(), Region: p.cfg.AWS.Region}
	// One attempt: a probe reports the state now, and the next probe is the
	// retry; backing off here would only delay the admin view's answer.
	out, err := p.client("", "").sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{},
		func(o *sts.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		r.Error = fmt.Sprintf("aws: get caller identity: %v", err)
		p.reachable.Store(2)
	} else {
		r.Reachable = true
		r.Account = aws.ToString(out.Account)
		r.Arn = aws.ToString(out.Arn)
		p.reachable.Store(1)
	}
	p.lastCheck.Store(&r)
	return r
}

// LastCheck returns the last Check's outcome (ok false before the first).
func (p *Provider) LastCheck() (Reachability, bool) {
	r := p.lastCheck.Load()
	if r == nil {
		return Reachability{}, false
	}
	return *r, true
}

var (
	_ envs.Provider           = (*Provider)(nil)
	_ envs.StackDescriber     = (*Provider)(nil)
	_ envs.ParamChoicer       = (*Provider)(nil)
	_ envs.RetainingDestroyer = (*Provider)(nil)
	_ envs.ProvisionTimeouter = (*Provider)(nil)
	_ envs.DestroyTimeouter   = (*Provider)(nil)
	_ envs.HealthChecker      = (*Provider)(nil)
)

// ProvisionTimeout implements envs.ProvisionTimeouter: CloudFormation
// stacks with databases restored from snapshots often take 20-60 minutes,
// far past the orchestrator's default.
func (p *Provider) ProvisionTimeout() time.Duration { return 2 * time.Hour }

// DestroyTimeout implements envs.DestroyTimeouter: a delete waits for a
// rollback or update in progress to settle first, and some resources take
// long to go (a database's final snapshot, a CDN distribution, the network
// interfaces of functions in a VPC), so an hour is not always enough.
func (p *Provider) DestroyTimeout() time.Duration { return 3 * time.Hour }
