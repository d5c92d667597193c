package envs

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
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

// --- catalog ---

// Publish parses, validates and stores a template version. Publishing the
// same version again with the same content is a no-op (created is false);
// with other content it is refused with EConflict.
func (s *Service) Publish(ctx context.Context, actor Actor, source []byte) (v Version, created bool, err error) {
	defer func() { s.audit(ctx, actor, "template.publish", v.Spec.Name+"@"+v.Spec.Version, err) }()
	if err := Authorize(actor, PermPublish); err != nil {
		return Version{}, false, err
	}
	spec, err := ParseSpec(source)
	if err != nil {
		return Version{}, false, err
	}
	if spec.Owner == "" && !actor.IsAdmin() {
		return Version{}, false, ownerRequired(actor)
	}
	p := s.providers[spec.Provider]
	if !s.providerOn(spec.Provider) {
		return Version{}, false, Invalid("template is not valid", FieldError{Field: "provider",
			Message: s.providerUnavailable(spec.Provider)})
	}
	if sr, ok := p.(StackResolver); ok {
		resolved, err := sr.ResolveStack(spec.Stack)
		if err != nil {
			return Version{}, false, err
		}
		spec.Stack = resolved
	}
	if err := p.ValidateStack(spec.Stack); err != nil {
		var de *Error
		if errors.As(err, &de) {
			return Version{}, false, err
		}
		return Version{}, false, Invalid("template is not valid", FieldError{Field: "stack", Message: err.Error()})
	}
	digest := spec.Digest()
	sv, _ := ParseSemver(spec.Version)
	params, _ := json.Marshal(spec.Parameters)
	now := s.now()
	row := &storage.TemplateVersion{
		TemplateName: spec.Name, Version: spec.Version,
		Major: sv.Major, Minor: sv.Minor, Patch: sv.Patch, Prerelease: sv.Prerelease,
		Digest: digest, Kind: string(spec.Kind), Description: spec.Description, Owner: spec.Owner,
		Provider: spec.Provider, DefaultTTL: spec.TTL.Default, MaxTTL: spec.TTL.Max,
		Params: string(params), Stack: string(spec.Stack), Source: string(source),
		PublishedBy: actor.Name, PublishedAt: now, Teams: strings.Join(spec.Teams, ","),
		DriftInterval: spec.DriftSchedule(), DriftRemedy: string(spec.DriftRemedy()),
		Cost: encodeCost(spec.Cost), ExpiryWarnings: encodeWarnings(spec.ExpiryWarnings),
	}
	if spec.OnFailure != nil {
		row.KeepFailedStack = spec.OnFailure.KeepStack
	}
	if spec.Inactivity != nil {
		row.InactivityIdle, row.InactivityWarn = spec.Inactivity.Idle, spec.Inactivity.WarnBefore
	}
	if spec.Rollback != nil {
		row.RollbackGrace = spec.Rollback.Grace
		if row.RollbackGrace == 0 {
			row.RollbackGrace = -1 // stored: none kept (0 is the server's default)
		}
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		existing, err := tx.Version(ctx, spec.Name, spec.Version)
		switch {
		case err == nil:
			t, err := tx.Template(ctx, spec.Name)
			if err != nil {
				return err
			}
			if err := checkMember(actor, spec.Name, t.OwnerTeam, "publish versions of it"); err != nil {
				return err
			}
			if existing.Digest != digest {
				return Errorf(EConflict, "%s@%s is already published with other content (%s); publish a new version instead",
					spec.Name, spec.Version, ShortDigest(existing.Digest))
			}
			row = existing
			return nil
		case !errors.Is(err, storage.ErrNotFound):
			return err
		}
		_, err = tx.Template(ctx, spec.Name)
		first := errors.Is(err, storage.ErrNotFound)
		if err != nil && !first {
			return err
		}
		if err := tx.SaveTemplate(ctx, &storage.Template{Name: spec.Name, Kind: string(spec.Kind),
			Description: spec.Description, Owner: spec.Owner, OwnerTeam: spec.Owner, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		// Read after the save: on PostgreSQL the row is now locked, so this
		// is the owning team as committed, also by a first publish of the
		// name that raced this one (whose team then decides).
		t, err := tx.Template(ctx, spec.Name)
		if err != nil {
			return err
		}
		if err := checkOwner(actor, t.OwnerTeam, spec, first && t.OwnerTeam == spec.Owner); err != nil {
			return err
		}
		if t.OwnerTeam != spec.Owner { // an administrator hands it over
			if err := tx.SetTemplateOwnerTeam(ctx, spec.Name, spec.Owner); err != nil {
				return err
			}
		}
		if err := tx.CreateVersion(ctx, row); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return Errorf(EConflict, "%s@%s was published concurrently", spec.Name, spec.Version)
			}
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return Version{}, false, err
	}
	v, err = versionFromRow(row)
	return v, created, err
}

func (s *Service) providerNames() []string {
	names := make([]string, 0, len(s.providers))
	for n := range s.providers {
		names = append(names, n)
	}
	return names
}

// Catalog lists every template with its versions, newest first.
func (s *Service) Catalog(ctx context.Context) ([]Template, error) {
	rows, err := s.store.Templates(ctx)
	if err != nil {
		return nil, err
	}
	versions, err := s.store.Versions(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string][]Version{}
	for i := range versions {
		v, err := versionFromRow(&versions[i])
		if err != nil {
			return nil, fmt.Errorf("envs: version %s@%s: %w", versions[i].TemplateName, versions[i].Version, err)
		}
		byName[v.Spec.Name] = append(byName[v.Spec.Name], v)
	}
	out := make([]Template, 0, len(rows))
	for _, r := range rows {
		out = append(out, Template{Name: r.Name, Kind: Kind(r.Kind), Description: r.Description,
			Owner: r.Owner, OwnerTeam: r.OwnerTeam, Versions: byName[r.Name]})
	}
	if err := s.countLive(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Template returns one catalog entry.
func (s *Service) Template(ctx context.Context, name string) (Template, error) {
	r, err := s.store.Template(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return Template{}, Errorf(ENotFound, "template %q does not exist", name)
	}
	if err != nil {
		return Template{}, err
	}
	rows, err := s.store.Versions(ctx, name)
	if err != nil {
		return Template{}, err
	}
	t := Template{Name: r.Name, Kind: Kind(r.Kind), Description: r.Description, Owner: r.Owner, OwnerTeam: r.OwnerTeam}
	for i := range rows {
		v, err := versionFromRow(&rows[i])
		if err != nil {
			return Template{}, err
		}
		t.Versions = append(t.Versions, v)
	}
	ts := []Template{t}
	if err := s.countLive(ctx, ts); err != nil {
		return Template{}, err
	}
	return ts[0], nil
}

// maxDeprecationNote bounds the note people read beside a deprecated
// version.
const maxDeprecationNote = 2000

// Deprecate marks a version deprecated: it stays visible and its
// environments keep running, but it can no longer be launched. See
// DeprecateVersion for a deprecation with a date.
func (s *Service) Deprecate(ctx context.Context, actor Actor, template, version, note string) error {
	return s.DeprecateVersion(ctx, actor, DeprecateRequest{Template: template, Version: version, Note: note})
}

// --- environments ---

// LaunchRequest asks for a new environment.
type LaunchRequest struct {
	Template string
	Version  string // "" for the latest non-deprecated version
	Name     string // "" to generate one from the template's name
	Params   map[string]any
	TTL      string // "" for the version's default
	// Labels are key=value pairs the environment carries (see labels.go).
	Labels map[string]string

	// approval is the approved request this launch carries out: it is not
	// held to the quotas (see approval.go).
	approval string
}

var envNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// MinTTL is the shortest lifetime accepted (tests and demos use seconds).
const MinTTL = time.Second

// Launch validates a request and records a pending environment together with
// its provision job, in one transaction. Its expiry is the reaper's (see
// reaper.go).
func (s *Service) Launch(ctx context.Context, actor Actor, req LaunchRequest) (env *Environment, err error) {
	defer func() {
		if env != nil {
			return // audited in the launch's transaction
		}
		s.audit(ctx, actor, "environment.launch", req.Template, err)
	}()
	return s.launch(ctx, actor, req, nil)
}

// launch is Launch without its audit of a failure; claim, when set, runs
// first in the launch's transaction (see LaunchOnce).
func (s *Service) launch(ctx context.Context, actor Actor, req LaunchRequest, claim func(tx *storage.Tx, envID string) error) (env *Environment, err error) {
	spec, plan, row, err := s.prepareLaunch(ctx, actor, req)
	if err != nil {
		return nil, err
	}
	err = s.insertLaunch(ctx, row, plan.redraw, claim, func(tx *storage.Tx) error {
		if req.approval == "" {
			if err := s.enforceQuota(ctx, tx, changeOfRow(row, 1)); err != nil {
				return err
			}
		}
		if err := s.recordActivityRow(ctx, tx, row, spec, ""); err != nil {
			return err
		}
		msg := fmt.Sprintf("Launched %s@%s with a TTL of %s", spec.Name, spec.Version, FormatDuration(plan.ttl))
		if req.approval != "" {
			msg += fmt.Sprintf(" (past a quota, approval %s)", req.approval)
		}
		if err := s.addEvent(ctx, tx, row.ID, EventStatus, StatusPending, msg, actor.Name); err != nil {
			return err
		}
		// The audit entry of a launch that succeeds is written here rather
		// than after the commit: one commit fewer on SQLite's one
		// connection per launch (a failed launch is audited by Launch).
		return tx.Audit(ctx, s.auditEntry(actor, "environment.launch", row.ID, nil))
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(row.ID)
	s.log.Info("environment launched", "environment", row.ID, "name", row.Name, "template", spec.Name, "version", spec.Version, "ttl", plan.ttl.String(), "owner", actor.Name)
	return environmentFromRow(row, splitNames(row.SecretNames)), nil
}

// prepareLaunch checks a launch request as the actor may make it and
// builds the pending environment it would record (not stored yet).
func (s *Service) prepareLaunch(ctx context.Context, actor Actor, req LaunchRequest) (Spec, launchPlan, *storage.Environment, error) {
	fail := func(err error) (Spec, launchPlan, *storage.Environment, error) { return Spec{}, launchPlan{}, nil, err }
	if err := Authorize(actor, PermLaunch); err != nil {
		return fail(err)
	}
	if req.Template == "" {
		return fail(Invalid("launch request is not valid", FieldError{Field: "template", Message: "is required"}))
	}
	tpl, err := s.Template(ctx, req.Template)
	if err != nil {
		return fail(err)
	}
	var version Version
	if req.Version == "" {
		v, ok := tpl.Latest()
		if !ok || v.DeprecatedAt != nil {
			return fail(Invalid("launch request is not valid", FieldError{Field: "version", Message: "the template has no version that can be launched"}))
		}
		version = v
	} else {
		found := false
		for _, v := range tpl.Versions {
			if v.Spec.Version == req.Version {
				version, found = v, true
			}
		}
		if !found {
			return fail(Errorf(ENotFound, "template %s has no version %s", req.Template, req.Version))
		}
	}
	spec := version.Spec
	if err := CanLaunchTemplate(actor, spec); err != nil {
		return fail(err)
	}
	// Problems with the labels are reported with the launch's others.
	plan, err := s.planLaunch(ctx, version, req.Name, req.TTL, req.Params, ValidateLabels(req.Labels))
	if err != nil {
		return fail(err)
	}
	row, err := s.newEnvironmentRow(actor, plan)
	if err != nil {
		return fail(err)
	}
	row.Labels = encodeMap(req.Labels)
	return spec, plan, row, nil
}

// launchPlan is a launch (or a relaunch) checked against its version: what
// the new environment is made of.
type launchPlan struct {
	version Version
	name    string
	// redraw says the name was not asked for: when it is taken, another is
	// drawn rather than the launch refused.
	redraw  bool
	ttl     time.Duration
	plain   map[string]string // the non-secret values
	secrets map[string]string
}

// planLaunch checks a launch against its version, as every launch is
// checked: the version's state, the name ("" draws one), the TTL ("" for
// the version's default) within its policy, the parameters (ValidateParams,
// then the provider's choices) and the provider. fields are problems the
// caller found already (a relaunch's secrets to type again), reported with
// these; a field among them is not reported twice.
func (s *Service) planLaunch(ctx context.Context, version Version, name, ttlText string, params map[string]any, found []FieldError) (launchPlan, error) {
	spec := version.Spec
	fields := append([]FieldError(nil), found...)
	if version.DeprecatedAt != nil {
		fields = append(fields, FieldError{Field: "version", Message: fmt.Sprintf("%s is deprecated and cannot be launched", spec.Version)})
	}
	plan := launchPlan{version: version, name: strings.TrimSpace(name), ttl: spec.TTL.Default}
	if plan.name == "" {
		plan.name, plan.redraw = GeneratedName(spec.Name), true
	}
	if !envNameRe.MatchString(plan.name) {
		fields = append(fields, FieldError{Field: "name", Message: "must be 1-63 lowercase letters, digits or dashes, starting and ending with a letter or digit"})
	}
	if ttlText != "" {
		d, err := time.ParseDuration(ttlText)
		switch {
		case err != nil:
			fields = append(fields, FieldError{Field: "ttl", Message: fmt.Sprintf("%q is not a duration such as 90m or 2h", ttlText)})
		case d < MinTTL:
			fields = append(fields, FieldError{Field: "ttl", Message: fmt.Sprintf("must be at least %s", MinTTL)})
		case d > spec.TTL.Max:
			fields = append(fields, FieldError{Field: "ttl", Message: fmt.Sprintf("%s is longer than this template's maximum of %s", ttlText, FormatDuration(spec.TTL.Max))})
		default:
			plan.ttl = d
		}
	}
	values, perrs := ValidateParams(spec.Parameters, params)
	for _, fe := range perrs {
		if !slices.ContainsFunc(found, func(f FieldError) bool { return f.Field == fe.Field }) {
			fields = append(fields, fe)
		}
	}
	if len(perrs) == 0 && len(found) == 0 {
		fields = append(fields, s.checkChoices(ctx, spec, values)...)
	}
	if len(fields) > 0 {
		return launchPlan{}, Invalid("launch request is not valid", fields...)
	}
	if !s.providerOn(spec.Provider) {
		return launchPlan{}, Invalid("launch request is not valid", FieldError{Field: "template",
			Message: fmt.Sprintf("%s@%s cannot be launched: %s", spec.Name, spec.Version, s.providerUnavailable(spec.Provider))})
	}
	plan.plain, plan.secrets = splitSecrets(spec, values)
	return plan, nil
}

// splitSecrets divides parameter values into the plain and the secret ones.
func splitSecrets(spec Spec, values map[string]string) (plain, secrets map[string]string) {
	plain, secrets = map[string]string{}, map[string]string{}
	for _, p := range spec.Parameters {
		v, ok := values[p.Name]
		if !ok {
			continue
		}
		if p.Secret {
			secrets[p.Name] = v
		} else {
			plain[p.Name] = v
		}
	}
	return plain, secrets
}

// newEnvironmentRow is the pending environment of a plan, owned by the
// actor, its secrets sealed to its new id.
func (s *Service) newEnvironmentRow(actor Actor, plan launchPlan) (*storage.Environment, error) {
	spec := plan.version.Spec
	id := "env-" + strings.ToLower(randomID(10))
	sealed, err := s.cipher.seal(plan.secrets, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return &storage.Environment{
		ID: id, Name: plan.name, Owner: actor.Name, OwnerID: actor.UserID, Team: actor.Team,
		TemplateName: spec.Name, Version: spec.Version, VersionID: plan.version.ID,
		Kind: string(spec.Kind), Provider: spec.Provider,
		Params: encodeMap(plan.plain), Secrets: sealed, SecretNames: strings.Join(slices.Sorted(maps.Keys(plan.secrets)), ","),
		Status: string(StatusPending), Outputs: "{}", Facts: "{}",
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(plan.ttl), MaxExpiresAt: now.Add(spec.TTL.Max),
		HourlyCostMicros: int64(spec.Cost.Rate(plan.plain)),
	}, nil
}

// GeneratedName is a template's name with a random suffix: the name of an
// environment launched without one, and the launch form's default.
func GeneratedName(template string) string {
	return template + "-" + strings.ToLower(randomID(6))
}

// insertLaunch records a pending environment with its provision job, in
// one transaction; record writes its first event and its audit entry in
// the same transaction. A name that is live already is refused, unless
// redraw says it was not asked for: then another is drawn (the user asked
// for no particular name, so a conflict is not theirs).
func (s *Service) insertLaunch(ctx context.Context, row *storage.Environment, redraw bool, claim func(tx *storage.Tx, envID string) error, record func(tx *storage.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.store.InTx(ctx, func(tx *storage.Tx) error {
			// First, so that a concurrent launch with the same key waits
			// for this one here (PostgreSQL) before anything else conflicts.
			if claim != nil {
				if err := claim(tx, row.ID); err != nil {
					return err
				}
			}
			if err := tx.CreateEnvironment(ctx, row); err != nil {
				if errors.Is(err, storage.ErrConflict) {
					return &Error{Code: EConflict, Message: fmt.Sprintf("an environment named %q is already live", row.Name),
						Fields: []FieldError{{Field: "name", Message: "is already used by a live environment"}}}
				}
				return err
			}
			if err := record(tx); err != nil {
				return err
			}
			if err := s.armWarnings(ctx, tx, row.ID, row.VersionID, row.ExpiresAt, false); err != nil {
				return err
			}
			return s.jobs.InsertTx(ctx, tx, provisionArgs{EnvironmentID: row.ID}, s.attemptOpts(s.cfg.ProvisionAttempts))
		})
		if !redraw || ErrorCode(err) != EConflict || attempt == 4 {
			return err
		}
		row.Name = GeneratedName(row.TemplateName)
	}
}

func splitNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:n]
}

// Environment loads one environment.
func (s *Service) Environment(ctx context.Context, id string) (*Environment, error) {
	for try := 1; ; try++ {
		r, err := s.store.Environment(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, Errorf(ENotFound, "environment %q does not exist", id)
		}
		if err != nil {
			return nil, err
		}
		e := environmentFromRow(r, splitNames(r.SecretNames))
		if err := s.attach(ctx, []*Environment{e}); err != nil {
			return nil, err
		}
		// The stacks are read after the row: a switch committed in between
		// shows another stack in service than the row's, so it is read again.
		consistent, err := s.attachStacks(ctx, e)
		if err != nil {
			return nil, err
		}
		if err := s.attachDeprecation(ctx, e); err != nil {
			return nil, err
		}
		if consistent || try == 3 {
			return e, nil
		}
	}
}

// Filter narrows an environment listing.
type Filter struct {
	Statuses []Status
	Owner    string
	Template string
	Name     string // an exact environment name (a live one is unique; destroyed ones may share it)
	Search   string // a part of the name, in any case
	// Drifted keeps the environments whose stack's last drift check found
	// drift (true) or did not (false); nil: all.
	Drifted *bool
	// Labels are key=value items (the API's ?label=pr=123, repeatable):
	// an environment must carry every one.
	Labels []string
	Limit  int
	Offset int
	// Cursor continues a listing from the Next or Prev of an
	// EnvironmentPage (see EnvironmentPage; Offset is then ignored).
	Cursor string
}

// Environments lists environments, newest first.
func (s *Service) Environments(ctx context.Context, f Filter) ([]*Environment, error) {
	sf, err := storageFilter(f)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.Environments(ctx, sf)
	if err != nil {
		return nil, err
	}
	list := environmentsFromRows(rows)
	if err := s.attach(ctx, list); err != nil {
		return nil, err
	}
	return list, nil
}

// EnvironmentPage is one page of a listing, newest first, with the cursors
// of its neighbours ("" where there is none).
type EnvironmentPage struct {
	Environments []*Environment
	Next         string // the older environments
	Prev         string // the newer environments
}

// EnvironmentPage lists one page of f.Limit environments (keyset
// pagination: a page costs the same however deep it is, and environments
// launched meanwhile do not shift it).
func (s *Service) EnvironmentPage(ctx context.Context, f Filter) (EnvironmentPage, error) {
	if f.Limit <= 0 {
		return EnvironmentPage{}, errors.New("envs: EnvironmentPage needs a limit")
	}
	sf, err := storageFilter(f)
	if err != nil {
		return EnvironmentPage{}, err
	}
	sf.Offset, sf.Limit = 0, f.Limit+1 // one more tells whether there is a next page
	rows, err := s.store.Environments(ctx, sf)
	if err != nil {
		return EnvironmentPage{}, err
	}
	more := len(rows) > f.Limit
	if sf.Before != nil && !more {
		// Fewer than a page is newer: that is the first page.
		sf.Before = nil
		if rows, err = s.store.Environments(ctx, sf); err != nil {
			return EnvironmentPage{}, err
		}
		more = len(rows) > f.Limit
	}
	var page EnvironmentPage
	switch {
	case sf.Before != nil:
		rows = rows[1:] // the extra row is the newest one
		page.Prev = cursorOf(rows[0], "p")
		page.Next = cursorOf(rows[len(rows)-1], "n")
	case sf.After != nil:
		if len(rows) > 0 {
			page.Prev = cursorOf(rows[0], "p")
		}
		if more {
			rows = rows[:f.Limit]
			page.Next = cursorOf(rows[len(rows)-1], "n")
		}
	default:
		if more {
			rows = rows[:f.Limit]
			page.Next = cursorOf(rows[len(rows)-1], "n")
		}
	}
	page.Environments = environmentsFromRows(rows)
	if err := s.attach(ctx, page.Environments); err != nil {
		return EnvironmentPage{}, err
	}
	return page, nil
}

// A cursor is "n" (the page after) or "p" (the page before) and a
// listing key, base64url-encoded: opaque to clients, and readable back
// without any state kept on the server.
func cursorOf(r storage.Environment, dir string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(dir + r.CreatedAt.UTC().Format(time.RFC3339Nano) + " " + r.ID))
}

func parseCursor(c string) (after, before *storage.ListKey, err error) {
	invalid := Invalid("filter is not valid", FieldError{Field: "cursor", Message: "is not a cursor from a previous page"})
	b, derr := base64.RawURLEncoding.DecodeString(c)
	if derr != nil || len(b) < 2 {
		return nil, nil, invalid
	}
	at, id, ok := strings.Cut(string(b[1:]), " ")
	t, terr := time.Parse(time.RFC3339Nano, at)
	if !ok || terr != nil || id == "" {
		return nil, nil, invalid
	}
	key := &storage.ListKey{CreatedAt: t.UTC(), ID: id}
	switch b[0] {
	case 'n':
		return key, nil, nil
	case 'p':
		return nil, key, nil
	}
	return nil, nil, invalid
}

// Bounds of a listing's filter: there are seven statuses (a repeated one is
// dropped), and an owner, a template name or a cursor is far shorter. A
// query string may be a megabyte: 40,000 statuses became as many query
// parameters, past what SQLite accepts (a 500).
const (
	maxFilterStatuses = 32
	maxFilterText     = 512
)

// checkFilterText refuses a filter value that is too long or that the
// database cannot take as text.
func checkFilterText(field, value string) error {
	if len(value) > maxFilterText {
		return Invalid("filter is not valid", FieldError{Field: field, Message: fmt.Sprintf("must be at most %d bytes", maxFilterText)})
	}
	if msg := textProblem(value); msg != "" {
		return Invalid("filter is not valid", FieldError{Field: field, Message: msg})
	}
	return nil
}

// storageFilter checks a filter and turns it into storage's. The statuses
// of everything but destroyed become Undestroyed, which an index serves.
func storageFilter(f Filter) (storage.EnvironmentFilter, error) {
	invalid := func(field, format string, args ...any) error {
		return Invalid("filter is not valid", FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if len(f.Statuses) > maxFilterStatuses {
		return storage.EnvironmentFilter{}, invalid("status", "%d values; give at most %d (there are %d statuses)", len(f.Statuses), maxFilterStatuses, len(Statuses))
	}
	var statuses []Status
	for _, st := range f.Statuses {
		if !st.Valid() {
			return storage.EnvironmentFilter{}, invalid("status", "%q is not a status (%s)", truncate(string(st), 40), strings.Join(statusStrings(Statuses...), ", "))
		}
		if !slices.Contains(statuses, st) {
			statuses = append(statuses, st)
		}
	}
	for _, v := range []struct{ field, value string }{{"owner", f.Owner}, {"template", f.Template}, {"name", f.Name}, {"q", f.Search}, {"cursor", f.Cursor}} {
		if err := checkFilterText(v.field, v.value); err != nil {
			return storage.EnvironmentFilter{}, err
		}
	}
	f.Statuses = statuses
	labels, err := ParseLabelFilter(f.Labels)
	if err != nil {
		return storage.EnvironmentFilter{}, err
	}
	sf := storage.EnvironmentFilter{Statuses: statusStrings(f.Statuses...), Owner: f.Owner, Template: f.Template,
		Name: f.Name, Search: f.Search, Drifted: f.Drifted, Labels: labels, Limit: f.Limit, Offset: f.Offset}
	if undestroyed(f.Statuses) {
		sf.Statuses, sf.Undestroyed = nil, true
	}
	if f.Cursor != "" {
		var err error
		if sf.After, sf.Before, err = parseCursor(f.Cursor); err != nil {
			return storage.EnvironmentFilter{}, err
		}
		for _, key := range []*storage.ListKey{sf.After, sf.Before} {
			if key != nil && textProblem(key.ID) != "" {
				return storage.EnvironmentFilter{}, invalid("cursor", "is not a cursor from a previous page")
			}
		}
		sf.Offset = 0
	}
	return sf, nil
}

// undestroyed reports whether ss is every status but destroyed.
func undestroyed(ss []Status) bool {
	for _, st := range Statuses {
		if slices.Contains(ss, st) == (st == StatusDestroyed) {
			return false
		}
	}
	return true
}

func environmentsFromRows(rows []storage.Environment) []*Environment {
	out := make([]*Environment, len(rows))
	for i := range rows {
		out[i] = environmentFromRow(&rows[i], splitNames(rows[i].SecretNames))
	}
	return out
}

// countsFresh is how long Counts reuses a count: counting is a scan of
// every environment (a covering index, ~8 ms for 100,000 on SQLite), and the
// environments page's tabs and /metrics need no fresher figure than that.
const countsFresh = time.Second

// Counts is the number of environments per status, as counted at most
// countsFresh ago.
func (s *Service) Counts(ctx context.Context) (map[Status]int, error) {
	s.counts.mu.Lock() // one count at a time; callers meanwhile wait for it
	defer s.counts.mu.Unlock()
	if s.counts.byStatus != nil && time.Since(s.counts.at) < countsFresh {
		return maps.Clone(s.counts.byStatus), nil
	}
	m, err := s.store.CountByStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := map[Status]int{}
	for k, v := range m {
		out[Status(k)] = v
	}
	s.counts.byStatus, s.counts.at = out, time.Now()
	return maps.Clone(out), nil
}

// Events returns an environment's timeline after the given event id.
func (s *Service) Events(ctx context.Context, id string, after int64) ([]Event, error) {
	if _, err := s.Environment(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.store.Events(ctx, id, after, 0)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = eventFromRow(r)
	}
	return out, nil
}

// RecentEvents returns the newest n events of an environment's timeline,
// oldest first, and whether older ones exist.
func (s *Service) RecentEvents(ctx context.Context, id string, n int) ([]Event, bool, error) {
	if _, err := s.Environment(ctx, id); err != nil {
		return nil, false, err
	}
	rows, err := s.store.LastEvents(ctx, id, n+1)
	if err != nil {
		return nil, false, err
	}
	earlier := len(rows) > n
	if earlier {
		rows = rows[1:]
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = eventFromRow(r)
	}
	return out, earlier, nil
}

// Subscribe wakes the caller when the environment's timeline may have grown.
func (s *Service) Subscribe(id string) (<-chan struct{}, func()) { return s.hub.subscribe(id) }

// Extend adds ttl to an environment's lifetime, never past its maximum.
func (s *Service) Extend(ctx context.Context, actor Actor, id, ttl string) (env *Environment, err error) {
	defer func() { s.audit(ctx, actor, "environment.extend", id, err) }()
	return s.extend(ctx, actor, id, ttl, nil)
}

// extend is Extend without its audit; approved, when set, runs in the
// extend's transaction and exempts it from the quotas (an approved
// request, see approval.go).
func (s *Service) extend(ctx context.Context, actor Actor, id, ttl string, approved func(tx *storage.Tx) error) (env *Environment, err error) {
	d, perr := time.ParseDuration(ttl)
	if perr != nil || d <= 0 {
		return nil, Invalid("extend request is not valid", FieldError{Field: "ttl", Message: fmt.Sprintf("%q is not a positive duration such as 30m or 1h", ttl)})
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		r, err := tx.Environment(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return Errorf(ENotFound, "environment %q does not exist", id)
		}
		if err != nil {
			return err
		}
		e := environmentFromRow(r, splitNames(r.SecretNames))
		if err := CanActOn(actor, e); err != nil {
			return err
		}
		if !e.Status.Live() {
			return Errorf(EConflict, "environment %s is %s and can no longer be extended", e.Name, e.Status)
		}
		next := e.ExpiresAt.Add(d)
		if next.After(e.MaxExpiresAt) {
			return Invalid("extend request is not valid", FieldError{Field: "ttl", Message: fmt.Sprintf(
				"extending by %s would pass the maximum lifetime (%s); it can be extended by at most %s",
				FormatDuration(d), e.MaxExpiresAt.Format(time.RFC3339), FormatDuration(e.ExtendableBy().Truncate(time.Second)))})
		}
		if approved != nil {
			if err := approved(tx); err != nil {
				return err
			}
		} else {
			c := changeOfRow(r, 0)
			c.expires = next
			if err := s.enforceQuota(ctx, tx, c); err != nil {
				return err
			}
		}
		ok, err := tx.ExtendEnvironment(ctx, id, statusStrings(StatusPending, StatusProvisioning, StatusReady), r.ExpiresAt, next, s.now())
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(EConflict, "environment %s changed while extending it; try again", e.Name)
		}
		if err := s.armWarnings(ctx, tx, id, r.VersionID, next, true); err != nil {
			return err
		}
		msg := fmt.Sprintf("Extended by %s; now expires at %s", FormatDuration(d), next.Format(time.RFC3339))
		if err := s.addEvent(ctx, tx, id, EventAction, "", msg, actor.Name); err != nil {
			return err
		}
		e.ExpiresAt = next
		env = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Touch(id, ViaExtend)
	s.hub.notify(id)
	return env, nil
}

// Destroy asks for an environment to be destroyed now. Destroying an
// environment that is already destroying or destroyed succeeds.
func (s *Service) Destroy(ctx context.Context, actor Actor, id string) (env *Environment, err error) {
	defer func() { s.audit(ctx, actor, "environment.destroy", id, err) }()
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		r, err := tx.Environment(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return Errorf(ENotFound, "environment %q does not exist", id)
		}
		if err != nil {
			return err
		}
		if err := CanActOn(actor, environmentFromRow(r, nil)); err != nil {
			return err
		}
		if _, err := s.requestDestroy(ctx, tx, r, "Destroy requested by "+actor.Name, actor.Name, time.Time{}); err != nil {
			return err
		}
		// Destroying one its schedule stopped keeps it from starting again.
		_, err = s.cancelScheduledStart(ctx, tx, id, actor.Name)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(id)
	return s.Environment(ctx, id)
}

// requestDestroy moves a live, failed or destroy_failed environment to
// destroying and enqueues its destroy job, in the caller's transaction; a
// failed one whose stack was cleaned up already goes straight to
// destroyed. It reports false (and does nothing) when the environment is
// already on its way out or gone. A non-zero expiredAt makes it the reaper's: the
// environment must still be expired at that time when the row is updated,
// so an extension committed since the reaper looked wins.
func (s *Service) requestDestroy(ctx context.Context, tx *storage.Tx, r *storage.Environment, reason, actor string, expiredAt time.Time) (bool, error) {
	now := s.destroyRequest()
	if Status(r.Status) == StatusFailed && r.StackCleanedAt != nil {
		// Nothing left for a provider to destroy: the record is closed.
		ok, err := tx.TransitionStackCleaned(ctx, r.ID, statusStrings(StatusFailed), string(StatusDestroyed),
			map[string]any{"destroy_requested_at": now, "destroyed_at": now, "status_reason": "", "updated_at": now,
				"destroy_cause": destroyCause(actor, expiredAt)})
		if err != nil || !ok {
			return false, err
		}
		msg := "Destroyed on request of " + actor
		if !expiredAt.IsZero() {
			msg = "Destroyed: TTL expired"
		}
		return true, s.addEvent(ctx, tx, r.ID, EventStatus, StatusDestroyed, msg+" (the failed launch's stack was cleaned up already)", actor)
	}
	from := statusStrings(From(StatusDestroying)...)
	updates := map[string]any{"destroy_requested_at": now, "destroy_given_up_at": nil, "status_reason": "", "updated_at": now}
	if r.DestroyCause == "" { // a retried destroy keeps its first cause
		updates["destroy_cause"] = destroyCause(actor, expiredAt)
	}
	var ok bool
	var err error
	if expiredAt.IsZero() {
		ok, err = tx.Transition(ctx, r.ID, from, string(StatusDestroying), updates)
	} else {
		ok, err = tx.TransitionExpired(ctx, r.ID, from, string(StatusDestroying), expiredAt, updates)
	}
	if err != nil || !ok {
		return false, err
	}
	if err := s.addEvent(ctx, tx, r.ID, EventStatus, StatusDestroying, reason, actor); err != nil {
		return false, err
	}
	if err := s.jobs.InsertTx(ctx, tx, destroyArgs{EnvironmentID: r.ID, Request: now.UnixMicro()}, s.attemptOpts(s.cfg.DestroyAttempts)); err != nil {
		return false, err
	}
	return true, nil
}

// Logs returns an environment's captured logs, at most limit bytes of
// each stream, with its secrets masked (the stack's programs write the
// logs; they may print a secret as they please).
func (s *Service) Logs(ctx context.Context, id, service string, limit int) ([]LogStream, error) {
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "environment %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	p, ok := s.providers[r.Provider]
	if !ok || r.Handle == "" {
		return nil, nil
	}
	m := s.masker(r)
	if m == nil {
		return p.Logs(ctx, r.Handle, service, limit)
	}
	// Asked for a little more, so a secret cut at the front of the tail
	// is whole in what is read (see masker.maskTail).
	ask := limit
	if limit > 0 {
		ask += m.longest()
	}
	streams, err := p.Logs(ctx, r.Handle, service, ask)
	if err != nil {
		return nil, err
	}
	for i := range streams {
		streams[i].Text, streams[i].Truncated = m.maskTail(streams[i].Text, streams[i].Truncated, limit)
	}
	return streams, nil
}

// Failures lists environments that need an admin's eye: failed launches and
// stacks that could not be destroyed.
func (s *Service) Failures(ctx context.Context) ([]*Environment, error) {
	return s.Environments(ctx, Filter{Statuses: []Status{StatusDestroyFailed, StatusFailed}, Limit: 200})
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
