package storage

import "time"

// Template is a catalog entry.
type Template struct {
	Name        string `gorm:"primaryKey"`
	Kind        string
	Description string
	Owner       string
	// OwnerTeam owns the name: its members and admins publish and
	// deprecate its versions. SaveTemplate writes it only when it creates
	// the entry; SetTemplateOwnerTeam changes it.
	OwnerTeam string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TemplateVersion is one immutable published version of a template.
type TemplateVersion struct {
	ID              int64 `gorm:"primaryKey"`
	TemplateName    string
	Version         string
	Major           int
	Minor           int
	Patch           int
	Prerelease      string
	Digest          string
	Kind            string
	Description     string
	Owner           string
	Provider        string
	DefaultTTL      time.Duration `gorm:"column:default_ttl"`
	MaxTTL          time.Duration `gorm:"column:max_ttl"`
	Params          string        // JSON
	Stack           string        // JSON
	Source          string        // the YAML as published
	PublishedBy     string
	PublishedAt     time.Time
	DeprecatedAt    *time.Time
	DeprecationNote string
	Teams           string // comma-separated teams that may launch it; empty: everyone
	// KeepFailedStack is on_failure.keep_stack: how long a failed launch's
	// stack is kept for debugging before it is cleaned up (0: not kept).
	KeepFailedStack time.Duration
	// DriftInterval is how often its environments' stacks are checked for
	// drift (0: only on demand); DriftRemedy is manual or replace.
	DriftInterval time.Duration `gorm:"column:drift_interval"`
	DriftRemedy   string
	// RollbackGrace is rollback.grace: how long the old stack is kept
	// after a replace (0: the server's default; negative: not kept).
	RollbackGrace time.Duration `gorm:"column:rollback_grace"`
	// DeprecationDate is when a deprecated version's environments are
	// acted on (DeprecationAction: replace or destroy); nil: never.
	// DeprecationDoneAt is when the scheduled job did.
	DeprecationDate   *time.Time
	DeprecationAction string
	DeprecationDoneAt *time.Time
	// InactivityIdle destroys its environments after that long without
	// activity, InactivityWarn warning that long before (0: no policy).
	InactivityIdle time.Duration `gorm:"column:inactivity_idle"`
	InactivityWarn time.Duration `gorm:"column:inactivity_warn"`
	// Cost is the version's cost estimate as JSON ("": none declared).
	Cost string
	// ExpiryWarnings are its lead times before expiry: "" the defaults,
	// else the JSON array of nanoseconds ("[]": none).
	ExpiryWarnings string
}

// Environment is one launch of one template version.
type Environment struct {
	ID    string `gorm:"primaryKey"`
	Name  string
	Owner string // the owner's name, as people read it
	// OwnerID is the owner's user id, which decides ownership; empty for
	// environments of local mode and of the system.
	OwnerID            string
	Team               string
	TemplateName       string
	Version            string
	VersionID          int64
	Kind               string
	Provider           string
	Params             string // JSON of the non-secret values
	Secrets            []byte // encrypted JSON of the secret values
	SecretNames        string // comma-separated names of the secret values given
	Status             string
	StatusReason       string
	FailureReason      string
	Outputs            string // JSON
	Facts              string // JSON
	Handle             string
	CreatedAt          time.Time
	UpdatedAt          time.Time
	ProvisionStartedAt *time.Time
	ReadyAt            *time.Time
	ExpiresAt          time.Time
	MaxExpiresAt       time.Time
	DestroyRequestedAt *time.Time
	DestroyedAt        *time.Time
	RTOMillis          *int64 `gorm:"column:rto_ms"`
	RPOMillis          *int64 `gorm:"column:rpo_ms"`
	// ProvisionAttempt numbers launch attempts (see envs.ProvisionRequest).
	ProvisionAttempt int `gorm:"default:1"`
	// DestroyGivenUpAt: when the destroy job stopped retrying (see
	// envs.Environment.DestroyGivenUp); nil while it retries.
	DestroyGivenUpAt *time.Time
	// RelaunchedFrom is the environment this one was relaunched from ("":
	// an ordinary launch).
	RelaunchedFrom string
	// PinnedSnapshot is the snapshot the stack must restore instead of the
	// latest ("": the latest); see envs.ProvisionRequest.Snapshot.
	PinnedSnapshot string
	// StackCleanedAt: when a failed launch's stack was cleaned up, the
	// environment staying failed (see envs); nil while it may exist.
	// StackHeldUntil: until when a failed stack is kept for debugging.
	StackCleanedAt *time.Time
	StackHeldUntil *time.Time
	// StackID is the stack in service ("": the first, whose id is the
	// environment's); see Stack.
	StackID string
	// Labels is the JSON object of its labels (pr=123, commit=abc), set at
	// launch; CreateEnvironment also writes them to environment_labels,
	// which the label filter reads.
	Labels string `gorm:"default:'{}'"`
	// HourlyCostMicros is the version's cost estimate for its parameters,
	// in micro-dollars an hour, as launched (0: none declared).
	HourlyCostMicros int64
	// DestroyCause is why it was destroyed: "ttl" (the reaper),
	// "inactive" (the inactivity policy), "schedule", "user", "system";
	// "" while it was not (see envs.CauseTTL).
	DestroyCause string
}

// Stack is one stack of an environment: the one in service, a replace's
// candidate, a standby kept for a rollback, or one destroyed (see
// envs/replace.go).
type Stack struct {
	ID            string `gorm:"primaryKey"`
	EnvironmentID string
	Version       string
	VersionID     int64
	Handle        string
	Status        string
	Reason        string
	Params        string // JSON of the non-secret values
	Secrets       []byte // encrypted like the environment's, to the environment's id
	SecretNames   string
	Outputs       string
	Facts         string
	Replaces      string
	FromVersion   string
	RequestedBy   string
	RequestReason string
	Attempt       int
	CreatedAt     time.Time
	UpdatedAt     time.Time
	RequestedAt   *time.Time
	ReadyAt       *time.Time
	SwitchedAt    *time.Time
	FailedAt      *time.Time
	StandbyUntil  *time.Time
	DestroyedAt   *time.Time
	// RTOMillis and RPOMillis are the stack's own recovery figures (DR
	// kinds; nil otherwise): a switch puts them on the environment.
	RTOMillis *int64 `gorm:"column:rto_ms"`
	RPOMillis *int64 `gorm:"column:rpo_ms"`
}

// EnvironmentLabel is one label of an environment, for the label filter.
type EnvironmentLabel struct {
	EnvironmentID string `gorm:"primaryKey"`
	Key           string `gorm:"primaryKey"`
	Value         string
}

// EnvironmentDrift is what the drift checks of an environment's stack
// found: the last result, the last failure, the next scheduled check and a
// check in progress.
type EnvironmentDrift struct {
	EnvironmentID string `gorm:"primaryKey"`
	// Handle is the stack the row is about.
	Handle string
	// State is the last check's result: in_sync or drifted ("" never).
	State        string
	CheckedAt    *time.Time
	DriftedSince *time.Time
	Items        string // JSON list of what drifted
	// Error is why the last check failed ("" when it did not).
	Error   string
	ErrorAt *time.Time
	// DueAt is when the next scheduled check is due (nil: none).
	DueAt *time.Time
	// RequestedAt is set while a check is queued or running; Requests
	// counts the requests ever made.
	RequestedAt *time.Time
	RequestedBy string
	Requests    int
}

// TableName: one row per environment, named like the concept.
func (EnvironmentDrift) TableName() string { return "environment_drift" }

// Event is one line of an environment's timeline.
type Event struct {
	ID            int64 `gorm:"primaryKey"`
	EnvironmentID string
	At            time.Time
	Kind          string
	Status        string
	Message       string
	Actor         string
	// StackID is the stack the event is about ("": the first, or none).
	StackID string
}

// AuditEntry is one state-changing action.
type AuditEntry struct {
	ID      int64 `gorm:"primaryKey"`
	At      time.Time
	Actor   string
	Action  string
	Target  string
	Address string
	Result  string
	Detail  string
	Via     string // how the actor was authenticated: session, token <id>, local, system
	// The actor's user id, issuer and subject (empty for the local user,
	// the system and anonymous requests): the name alone may be shared.
	ActorID      string
	ActorIssuer  string
	ActorSubject string
}

// TableName keeps the table name singular-free and explicit.
func (AuditEntry) TableName() string { return "audit_log" }

// Setting is a key/value pair of instance state (e.g. the instance id).
type Setting struct {
	Key   string `gorm:"primaryKey"`
	Value string
}

// Rollout rolls a template version out to the environments of the
// template on other versions, in waves.
type Rollout struct {
	ID           string `gorm:"primaryKey"`
	TemplateName string
	Version      string
	Filter       string // JSON
	WaveSize     int
	Concurrency  int
	Status       string // running, paused, done, cancelled
	Reason       string // why it paused
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	FinishedAt   *time.Time
}

// RolloutItem is one environment of a rollout.
type RolloutItem struct {
	RolloutID     string `gorm:"primaryKey"`
	EnvironmentID string `gorm:"primaryKey"`
	FromVersion   string
	Wave          int
	State         string // pending, running, done, failed, skipped
	Reason        string
	StartedAt     *time.Time
	FinishedAt    *time.Time
}
