package envs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/storage"
)

// Metrics receives the orchestrator's measurements. The HTTP layer exports
// them to Prometheus; tests may pass nil.
type Metrics interface {
	ProvisionDone(provider string, d time.Duration, ok bool)
	DestroyDone(provider string, d time.Duration)
	ReaperLag(d time.Duration)
}

type noMetrics struct{}

func (noMetrics) ProvisionDone(string, time.Duration, bool) {}
func (noMetrics) DestroyDone(string, time.Duration)         {}
func (noMetrics) ReaperLag(time.Duration)                   {}

// Actor is who asks for something: a signed-in user, a token's owner, or the
// system itself (the reaper).
type Actor struct {
	Name    string
	Team    string
	Address string
	Admin   bool
	// Identity (see access.go): the user id, issuer, subject, role and
	// teams of a signed-in user or of a token's owner; empty for the local
	// user and the system.
	UserID  string
	Issuer  string
	Subject string
	Role    Role
	Teams   []string
	// Via says how the actor was authenticated: "session", "token", "local".
	Via string
	// TokenID is the API token a request came with (audited).
	TokenID string
	// session is the hash of the session a request came with, so that a
	// long request (an SSE stream) can check it again (see StillValid).
	session string
}

// System is the actor of automatic work.
var System = Actor{Name: "mayfly", Role: RoleAdmin, Via: "system"}

// Config wires a Service.
type Config struct {
	Store      *storage.DB
	Providers  []Provider
	Cipher     *Cipher
	Logger     *slog.Logger
	Metrics    Metrics
	Clock      func() time.Time
	InstanceID string

	// ProvidersOff are turned off: they only destroy what they made (and
	// show its logs); see providers_off.go.
	ProvidersOff []Provider
	// ProviderSetup says, per provider name, how an administrator sets up
	// a provider this server does not have (e.g. "--tofu-binary"); refusals
	// quote it.
	ProviderSetup map[string]string

	// Workers is how many jobs run at once (default 20).
	Workers int
	// PollInterval is how often a provisioning or deleting stack is checked
	// (default 1s).
	PollInterval time.Duration
	// ProvisionTimeout bounds launch-to-ready (default 15m).
	ProvisionTimeout time.Duration
	// SweepInterval is how often the reaper's backstop scan runs (default 10s).
	SweepInterval time.Duration
	// ReapInterval is how often the reaper looks for expired environments,
	// on every replica (default 250ms); see reaper.go.
	ReapInterval time.Duration
	// JobTimeout bounds one step of a job: a provision (setup commands
	// have their own, shorter timeouts), one status check, one destroy call
	// (default 10m).
	JobTimeout time.Duration
	// RescueAfter is how long a job may look stuck (its worker died) before
	// another worker takes it over (default JobTimeout + 1m; never less than
	// JobTimeout + 1s, so a live job is not taken over). On SQLite a
	// restart requeues such jobs at once; on PostgreSQL another replica's
	// leader rescues them.
	RescueAfter time.Duration
	// RetryDelay is the base of the backoff between job retries (default
	// 2s; attempt n waits n² times it, at most 10m).
	RetryDelay time.Duration
	// ProvisionAttempts bounds the failed steps of one launch (the
	// provider's errors, panics and timeouts, in Provision and in Status):
	// the last fails the launch with its reason (default 3).
	ProvisionAttempts int
	// DestroyAttempts bounds the failed attempts of one destroy: after the
	// last the environment stays destroy_failed until an admin retries it
	// (default 25).
	DestroyAttempts int
	// DestroyTimeout bounds how long a destroy may stay in progress, from
	// the request to the provider reporting the stack gone; a provider
	// may need longer (DestroyTimeouter). After it the environment stays
	// destroy_failed until an admin retries it (default 1h).
	DestroyTimeout time.Duration
	// DestroyWatchInterval is how often a provisioning step asks whether a
	// destroy was requested on another replica (default 500ms; see
	// watchDestroy).
	DestroyWatchInterval time.Duration
	// RollbackGrace is how long the stack a replace took out of service
	// is kept on standby for an instant rollback, when the version says
	// nothing (default 1h; negative: none kept). See replace.go.
	RollbackGrace time.Duration
	// DeprecationAttempts bounds the tries of what a deprecation date does
	// to one environment (default 5); DeprecationRetryDelay is the wait
	// after the first failed try, doubled after each (default 10m, at most
	// 6h). See deprecation_acts.go.
	DeprecationAttempts   int
	DeprecationRetryDelay time.Duration
	// Orphans is the cloud orphan sweep's policy (see orphan_sweep.go).
	Orphans OrphanPolicy
	// DriftWorkers is how many drift checks run at once (default 4), on
	// a queue of their own; DriftSweepInterval is how often the drift
	// scheduler looks for checks that are due (default 1m). See
	// drift_jobs.go.
	DriftWorkers       int
	DriftSweepInterval time.Duration

	// ExternalURL is where people reach Mayfly, for the links in notices
	// and the one-click links of expiry warnings (see links.go; "": notices
	// carry no links of Mayfly's).
	ExternalURL string
	// Notices (see notify_jobs.go): SMTP sends e-mail (nil or no host:
	// e-mail channels are refused); NotifyHTTP posts webhooks;
	// NotifyAttempts bounds the attempts of one delivery (default 6);
	// NotifyTimeout one attempt (default 10s); NotifyWorkers how many run
	// at once, on a queue of their own (default 10).
	SMTP           *notify.SMTP
	NotifyHTTP     notify.HTTP
	NotifyAttempts int
	NotifyTimeout  time.Duration
	NotifyWorkers  int
	// ActivityFlush is how often an environment's activity seen in memory
	// is written at most (default 10s); LifecycleInterval how often the
	// inactivity and schedule deadlines are looked at, on every replica
	// (default 5s). See inactivity.go.
	ActivityFlush     time.Duration
	LifecycleInterval time.Duration

	// Identity (see identity.go): how groups map to roles and teams, and how
	// long sessions last.
	Groups      GroupMapping
	SessionIdle time.Duration // default 8h without a request
	SessionMax  time.Duration // default 7 days after sign-in
	// Identity re-checks role and teams at the identity provider (nil:
	// never, as in local mode); RoleRecheck is how long a confirmation
	// holds (default 15m; see membership.go).
	Identity    IdentityProvider
	RoleRecheck time.Duration
}

// Service is the domain's entry point: the catalog, environments and their
// lifecycle, and the orchestrator that runs it as durable jobs.
type Service struct {
	store     *storage.DB
	providers map[string]Provider
	cipher    *Cipher
	log       *slog.Logger
	metrics   Metrics
	now       func() time.Time
	instance  string
	cfg       Config

	// off are the providers turned off (in providers too).
	off map[string]bool

	jobs  jobQueue
	hub   *hub
	locks keyedMutex
	// rollouts runs rollouts (see rollout.go).
	rollouts *rolloutRunner
	// activity is the activity seen since the last flush (inactivity.go).
	activity activityBuffer
	// warnPolicies caches versions' expiry warnings by version id
	// (expiry.go): versions are immutable.
	warnPolicies sync.Map
	// stopReaper stops the reaper that Start started; reaperPasses counts
	// the passes of its loop (tests wait for the first one).
	stopReaper   func()
	reaperPasses atomic.Int64
	// counts is Counts' last count.
	counts struct {
		mu       sync.Mutex
		byStatus map[Status]int
		at       time.Time
	}
}

// jobQueue is what the orchestrator needs of the durable job queue.
// storage.JobQueue provides it on SQLite and on PostgreSQL alike: a job is
// inserted in the transaction of the state change that needs it.
type jobQueue interface {
	InsertTx(ctx context.Context, tx *storage.Tx, args river.JobArgs, opts *river.InsertOpts) error
	InsertManyTx(ctx context.Context, tx *storage.Tx, params []river.InsertManyParams) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// New builds a Service; call Start to run its jobs.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Cipher == nil {
		return nil, errors.New("envs: Store and Cipher are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	cfg.Workers = cmpOr(cfg.Workers, 20)
	cfg.PollInterval = cmpOr(cfg.PollInterval, time.Second)
	cfg.ProvisionTimeout = cmpOr(cfg.ProvisionTimeout, 15*time.Minute)
	cfg.SweepInterval = cmpOr(cfg.SweepInterval, 10*time.Second)
	cfg.ReapInterval = cmpOr(cfg.ReapInterval, 250*time.Millisecond)
	cfg.JobTimeout = cmpOr(cfg.JobTimeout, 10*time.Minute)
	cfg.RescueAfter = max(cmpOr(cfg.RescueAfter, cfg.JobTimeout+time.Minute), cfg.JobTimeout+time.Second)
	cfg.RetryDelay = cmpOr(cfg.RetryDelay, 2*time.Second)
	cfg.ProvisionAttempts = cmpOr(cfg.ProvisionAttempts, 3)
	cfg.DestroyAttempts = cmpOr(cfg.DestroyAttempts, 25)
	cfg.DestroyTimeout = cmpOr(cfg.DestroyTimeout, time.Hour)
	cfg.DestroyWatchInterval = cmpOr(cfg.DestroyWatchInterval, destroyWatchInterval)
	cfg.SessionIdle = cmpOr(cfg.SessionIdle, 8*time.Hour)
	cfg.SessionMax = cmpOr(cfg.SessionMax, 7*24*time.Hour)
	cfg.RoleRecheck = cmpOr(cfg.RoleRecheck, 15*time.Minute)
	cfg.DriftWorkers = cmpOr(cfg.DriftWorkers, 4)
	cfg.DriftSweepInterval = cmpOr(cfg.DriftSweepInterval, time.Minute)
	cfg.RollbackGrace = cmpOr(cfg.RollbackGrace, time.Hour)
	cfg.DeprecationAttempts = cmpOr(cfg.DeprecationAttempts, 5)
	cfg.DeprecationRetryDelay = cmpOr(cfg.DeprecationRetryDelay, 10*time.Minute)
	cfg.ActivityFlush = cmpOr(cfg.ActivityFlush, 10*time.Second)
	cfg.LifecycleInterval = cmpOr(cfg.LifecycleInterval, 5*time.Second)
	cfg.NotifyAttempts = cmpOr(cfg.NotifyAttempts, 6)
	cfg.NotifyTimeout = cmpOr(cfg.NotifyTimeout, 10*time.Second)
	cfg.NotifyWorkers = cmpOr(cfg.NotifyWorkers, 10)
	s := &Service{
		store:     cfg.Store,
		providers: map[string]Provider{},
		cipher:    cfg.Cipher,
		log:       cfg.Logger,
		metrics:   cfg.Metrics,
		now:       func() time.Time { return cfg.Clock().UTC().Truncate(time.Microsecond) },
		instance:  cfg.InstanceID,
		cfg:       cfg,
		hub:       newHub(),
	}
	for _, p := range cfg.Providers {
		s.providers[p.Name()] = p
	}
	s.off = map[string]bool{}
	for _, p := range cfg.ProvidersOff {
		s.providers[p.Name()] = p
		s.off[p.Name()] = true
	}
	jobs, err := s.newJobQueue()
	if err != nil {
		return nil, err
	}
	s.jobs = jobs
	return s, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Now is the service's clock (UTC).
func (s *Service) Now() time.Time { return s.now() }

// Provider returns a configured provider by name.
func (s *Service) Provider(name string) (Provider, bool) {
	p, ok := s.providers[name]
	return p, ok
}

func (s *Service) addEvent(ctx context.Context, tx *storage.Tx, envID, kind string, status Status, msg, actor string) error {
	return tx.AddEvent(ctx, &storage.Event{EnvironmentID: envID, At: s.now(), Kind: kind,
		Status: string(status), Message: msg, Actor: actor})
}

// audit records a state-changing action; a failure to audit is logged, not
// returned, so it never masks the action's own result.
func (s *Service) audit(ctx context.Context, actor Actor, action, target string, err error) {
	if aerr := s.store.Audit(context.WithoutCancel(ctx), s.auditEntry(actor, action, target, err)); aerr != nil {
		s.log.Error("audit failed", "action", action, "err", aerr)
	}
}

// auditEntry is the audit row of an action and its outcome.
func (s *Service) auditEntry(actor Actor, action, target string, err error) *storage.AuditEntry {
	result, detail := "ok", ""
	if err != nil {
		result = string(ErrorCode(err))
		detail = ErrorMessage(err)
	}
	return &storage.AuditEntry{At: s.now(), Actor: actor.Name, Action: action, Target: target,
		Address: actor.Address, Result: result, Detail: detail, Via: strings.TrimSpace(actor.Via + " " + actor.TokenID),
		ActorID: actor.UserID, ActorIssuer: actor.Issuer, ActorSubject: actor.Subject}
}

// FormatDuration prints a duration the way people write TTLs: "2h", "1h30m",
// "90s", "45m".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return d.String()
	}
	d = d.Round(time.Second)
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	sec := (d % time.Minute) / time.Second
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}
