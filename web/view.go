// Package web holds Mayfly's templ components: layouts, pages and partials.
// Components take the plain view structs below; they never call services or
// import echo. Handlers build the views from the envs domain types.
package web

import "time"

// Page is what every full page needs from the layout.
type Page struct {
	Title string
	// Nav is the active navigation entry: "environments", "catalog", "admin".
	Nav  string
	User UserView
	// Now is the server's clock, so countdowns are computed consistently.
	Now time.Time
	// CSRFToken, when set, is put in a <meta name="csrf-token"> (app.js sends
	// it as the X-CSRF-Token header with every htmx request) and in a hidden
	// "_csrf" field of the plain HTML forms. Empty: neither is rendered.
	CSRFToken string
	// Flash is a success notice rendered with the page, e.g. after a
	// redirect from a form ("Published tiny 1.1.0").
	Flash string
}

// UserView is the signed-in user (or the local user in local mode).
type UserView struct {
	Name    string
	IsAdmin bool
	// LocalMode is true when no sign-in is configured (loopback only).
	LocalMode bool
	// SignedIn is true for a browser session (offers tokens and sign-out).
	SignedIn bool
	// Role is viewer, member, author or admin ("" for nobody).
	Role string
	// CanPublish is true for authors and admins: they publish and
	// deprecate template versions.
	CanPublish bool
}

// TemplateView is one catalog entry.
type TemplateView struct {
	Name        string
	Kind        string // replica, demo, dr
	Description string
	// Owner is the team that owns the template: its members (and
	// admins) publish and deprecate its versions.
	Owner    string
	Provider string
	Latest   VersionView
	Versions []VersionView // newest first
	// NotLaunchable says why the viewer may not launch it (their role, or
	// the template is limited to other teams); empty: they may.
	NotLaunchable string
}

// VersionView is one published version of a template.
type VersionView struct {
	Version    string
	Digest     string // short content digest, e.g. "sha256:1a2b3c4d"
	DefaultTTL string // e.g. "2h", "1h 30m" (Duration)
	// TTLInput is the default TTL as the launch form's value, a Go
	// duration ("1h30m"); empty: DefaultTTL.
	TTLInput   string
	MaxTTL     string // e.g. "8h"
	Deprecated bool
	// DeprecationNote is why it was deprecated ("" none given).
	DeprecationNote string
	// Description is the version's own description (its template.yaml's).
	Description string
	PublishedAt time.Time
	PublishedBy string
	Params      []ParamView
	// KeepFailedStack is on_failure.keep_stack ("30m"), "" when a failed
	// launch's stack is cleaned up at once.
	KeepFailedStack string
	// Live is how many environments that are not destroyed run it.
	Live int
	// Deprecation is "replaced on 2027-01-15" or "destroyed on ...": what
	// the deprecation date does ("" none).
	Deprecation string
}

// PublishView is the publish page: the template.yaml being published (kept
// when it is refused) and what is wrong with it, line by line.
type PublishView struct {
	Source string
	// From names the template whose latest version the source was copied
	// from ("" for a new template).
	From    string
	Message string
	Errors  []PublishErrorView
}

// PublishErrorView is one problem in a refused template.yaml.
type PublishErrorView struct {
	Line    int // 0 when the error belongs to no line
	Field   string
	Message string
}

// ParamView describes one parameter of a version, for the launch form.
type ParamView struct {
	Name        string
	Label       string // human label, defaults to Name
	Description string
	Type        string // string, int, bool, enum
	Required    bool
	Secret      bool
	Default     string
	Pattern     string
	// PatternHint says in words what Pattern accepts ("": the pattern
	// itself is shown).
	PatternHint string
	Min, Max    *int64   // for int
	Options     []string // for enum
	// OptionLabels are shown instead of option values where set (choices
	// from a provider, such as snapshots with their age).
	OptionLabels map[string]string
	// EmptyLabel names what an empty choice means ("" for the default).
	EmptyLabel string
}

// LaunchForm is the launch page: the chosen template version, the values the
// user typed (kept on error) and the errors per field.
type LaunchForm struct {
	Template TemplateView
	Version  VersionView
	Name     string
	TTL      string
	Params   map[string]string
	// Labels is the labels field as typed ("pr=123, commit=abc").
	Labels string
	// Errors maps a field ("name", "ttl", "version", "params.customer") to its
	// message. General holds an error that belongs to no field.
	Errors  map[string]string
	General string
	// Relaunch is set when the form launches an environment again (it
	// then posts to the relaunch URL, and f.Params starts from the
	// source's values).
	Relaunch *RelaunchView
	// Cost is the estimate until expiry (see cost.templ); QuotaAsk, after
	// a quota refused the launch, offers to ask for an approval.
	Cost     CostEstimateView
	QuotaAsk *QuotaAsk
}

// RelaunchView is what the launch form of a relaunch says about its
// source.
type RelaunchView struct {
	SourceID   string
	SourceName string
	// ReusedSecrets are the secret parameters that may be left empty to
	// re-use the source's values (the viewer owns it); the source's other
	// secrets must be typed again (RetypeSecrets).
	ReusedSecrets []string
	RetypeSecrets []string
	// Snapshot is offered as "restore the same snapshot" ("": not offered);
	// SameSnapshot is the state of its checkbox.
	Snapshot     string
	SameSnapshot bool
}

// EnvironmentView is one environment as users see it.
type EnvironmentView struct {
	// Expiry is what its expiry warnings show (expiry.go).
	Expiry        ExpiryView
	ID            string
	Name          string
	Owner         string
	Team          string
	Template      string
	Kind          string
	Version       string
	Status        string // pending, provisioning, ready, failed, destroying, destroyed, destroy_failed
	StatusReason  string // why the environment is in this status (failures)
	FailureReason string // kept after a failed launch was cleaned up
	Outputs       []OutputView
	Params        []ParamValueView
	CreatedAt     time.Time
	ReadyAt       *time.Time
	ExpiresAt     time.Time
	MaxExpiresAt  time.Time
	DestroyedAt   *time.Time
	// RTO and RPO are set on dr drills once recovered (empty otherwise),
	// formatted durations such as "14.2s" and "3h12m".
	RTO string
	RPO string
	// SnapshotName and SnapshotTakenAt describe the restored snapshot, if any.
	SnapshotName    string
	SnapshotTakenAt *time.Time
	// Live is true while the environment has (or is getting) a stack:
	// pending, provisioning, ready. Extend is offered only then.
	Live bool
	// CanDestroy is true unless the environment is destroying or destroyed.
	CanDestroy bool
	// ExtendOptions are the durations offered by the extend control that fit
	// under the max TTL, e.g. ["30m", "1h", "2h"].
	ExtendOptions []string

	// DestroyGivenUp: destroy_failed, and no longer retried until an
	// administrator retries it.
	DestroyGivenUp bool

	// RelaunchedFrom is the environment this one was relaunched from ("":
	// none). CanRelaunch offers "Launch again".
	RelaunchedFrom string
	CanRelaunch    bool
	// A failed launch keeps its record: StackCleanedAt is when its stack
	// was cleaned up, StackHeldUntil until when it is kept for debugging
	// first (nil: not held).
	StackCleanedAt *time.Time
	StackHeldUntil *time.Time
	// Drift is the Drift section (nil: not shown, the provider does not
	// check stacks for drift or the environment was never ready).
	Drift *DriftView
	// Stacks is the Stacks card: the replace form, the rollback button,
	// every stack since the first replace and the latest replace.
	Stacks StacksView
	// Labels are its key=value labels, sorted.
	Labels []string
	// VersionDeprecated: its version is deprecated; Deprecation says what
	// happens then ("it will be replaced on 2027-01-15", "" nothing).
	// NewerVersion is a newer version of its template ("" none).
	VersionDeprecated bool
	Deprecation       string
	NewerVersion      string
	// DeprecationProgress is, once its deprecation date passed, why it is
	// still on the deprecated version and when the next try is (nil:
	// nothing to say).
	DeprecationProgress *DeprecationProgressView
}

// DeprecationProgressView is where a deprecation date's replace (or
// destroy) of one environment stands.
type DeprecationProgressView struct {
	// Action is "replace" or "destroy"; State "waiting" (for NextAt),
	// "replacing" (Target being built) or "gave_up".
	Action, State, Target string
	Attempts, MaxAttempts int
	// Reason is why the last try failed ("" none did).
	Reason string
	NextAt *time.Time
}

// StacksView is an environment's stacks and what may be done with them.
type StacksView struct {
	EnvironmentID string
	// CanReplace offers "Replace with version…" (ready, no replace
	// running, the viewer may act on it).
	CanReplace bool
	// RollbackVersion is offered as "Roll back to vX" ("": none);
	// RollbackInstant says its stack is still on standby.
	RollbackVersion string
	RollbackInstant bool
	// Version is the one in service; Versions the ones a replace may
	// build, newest first (retired ones are not offered).
	Version  string
	Versions []VersionChoice
	Stacks   []StackView
	// Replace is the latest replace (nil: never replaced).
	Replace *ReplaceView
}

// ReplaceParamsView is the replace form's parameters for one target
// version: Form.Version is that version, Form.Params the values shown
// (the stack in service's, defaults for new parameters), Form.Relaunch
// names the secrets that may be left empty to keep their values, and
// Form.Errors a refused replace's errors.
type ReplaceParamsView struct {
	Form LaunchForm
}

// VersionChoice is a version offered by the replace form.
type VersionChoice struct {
	Version    string
	Deprecated bool
}

// StackView is one stack of an environment.
type StackView struct {
	ID           string
	Version      string
	Status       string // building, in_service, standby, destroying, destroyed, failed
	Reason       string
	CreatedAt    time.Time
	StandbyUntil *time.Time
}

// ReplaceView is an environment's latest replace.
type ReplaceView struct {
	FromVersion, ToVersion string
	State                  string // building, switched, failed
	Reason                 string
	Why                    string
}

// OutputView is one named output (a URL is rendered as a link).
type OutputView struct {
	Name  string
	Value string
	IsURL bool
}

// ParamValueView is one parameter value of an environment; secrets are never
// rendered: Secret is true and Value is empty.
type ParamValueView struct {
	Name   string
	Value  string
	Secret bool
}

// EventView is one line of an environment's timeline.
type EventView struct {
	// Stack is the stack the event is about, when the environment has
	// more than one ("": the environment's first, or none).
	Stack   string
	ID      int64
	At      time.Time
	Kind    string // status, provider, action
	Status  string // the new status for status events
	Message string
	Actor   string
}

// EnvironmentList is the environments page.
type EnvironmentList struct {
	Environments []EnvironmentView
	// Status is the active filter ("" for all live ones, "all" for every one).
	Status string
	// Labels is the label filter (key=value items, all must match).
	Labels []string
	// Search (a part of the name), Template and Owner are the other
	// filters; Templates the template names to choose from.
	Search, Template, Owner string
	Templates               []string
	Counts                  map[string]int // environments per status
	// Cursor is the page shown ("" the first); Next and Prev are the
	// cursors of the older and newer pages ("" where there is none).
	Cursor, Next, Prev string
}

// EnvironmentDetail is the environment page.
type EnvironmentDetail struct {
	Env    EnvironmentView
	Events []EventView
	// EarlierEvents says Events are only the newest of a longer timeline;
	// AllEventsURL shows the whole of it.
	EarlierEvents bool
	AllEventsURL  string
	Services      []string // services with logs, for the logs panel
	// Flash is a one-line notice shown after an action (e.g. "Extended by 1h").
	Flash string
	// Error is shown when an action failed (e.g. extend past max TTL).
	Error string
	// Lifecycle is what keeps it up (nil: not recorded); see lifecycle.go.
	Lifecycle *LifecycleView
	// Cost is its cost (nil: its version declares none); see cost.templ.
	Cost *CostFiguresView
	// CSRFToken is for the forms outside the summary (the cost card's).
	CSRFToken string
}

// LogsView is the logs panel content.
type LogsView struct {
	EnvironmentID string
	Service       string
	Services      []string
	Text          string
	Truncated     bool
	Live          bool // keep polling while the environment is live
}

// AdminView is the admin page: failures and orphans.
type AdminView struct {
	Failures []EnvironmentView
	Orphans  []OrphanView
	// OrphansError says why orphans could not be listed (a cloud provider
	// unreachable); the rest of the page still renders.
	OrphansError string
	// Providers is the reachability of cloud providers (none: local only).
	Providers []ProviderCheckView
}

// ProviderCheckView is the last reachability check of a cloud provider.
type ProviderCheckView struct {
	Provider  string
	Reachable bool
	Checked   bool // false until the first check finished
	Detail    string
	CheckedAt time.Time
}

// OrphanView is a stack that carries Mayfly's marks but has no live
// environment.
type OrphanView struct {
	Provider string
	Handle   string
	Reason   string
}

// ErrorView is an error page.
type ErrorView struct {
	Status  int
	Title   string
	Message string
}

// RolloutView is a rollout's page: its waves, their items, why it paused.
type RolloutView struct {
	ID, Template, Version string
	Status                string // running, paused, done, cancelled
	Reason                string
	WaveSize, Concurrency int
	Filter                string // "label pr=1, status ready" as given
	CreatedBy             string
	CreatedAt             time.Time
	Waves                 []RolloutWaveView
	// CanChange offers resume and cancel (the viewer may change it).
	CanChange bool
}

// RolloutWaveView is one wave of a rollout (Number from 1).
type RolloutWaveView struct {
	Number int
	Items  []RolloutItemView
}

// RolloutItemView is one environment of a rollout.
type RolloutItemView struct {
	EnvironmentID, FromVersion, State, Reason string
}
