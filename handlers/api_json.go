package handlers

import (
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// The JSON shapes of /api/v1. They are the API contract: extend, don't break.

type templateJSON struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Owner       string `json:"owner"`
	// OwnerTeam publishes and deprecates the versions (with admins).
	OwnerTeam string        `json:"owner_team"`
	Latest    string        `json:"latest,omitempty"`
	Versions  []versionJSON `json:"versions"`
}

type versionJSON struct {
	Version         string       `json:"version"`
	Digest          string       `json:"digest"`
	Kind            string       `json:"kind"`
	Description     string       `json:"description"`
	Provider        string       `json:"provider"`
	TTL             ttlJSON      `json:"ttl"`
	Parameters      []envs.Param `json:"parameters"`
	Deprecated      bool         `json:"deprecated"`
	DeprecatedAt    *time.Time   `json:"deprecated_at,omitempty"`
	DeprecationNote string       `json:"deprecation_note,omitempty"`
	PublishedAt     time.Time    `json:"published_at"`
	PublishedBy     string       `json:"published_by,omitempty"`
	Teams           []string     `json:"teams,omitempty"` // who may launch it; absent: everyone
	Drift           driftPolicy  `json:"drift"`
	// OnFailure is what happens to a failed launch's stack; absent: it is
	// cleaned up at once.
	OnFailure *onFailureJSON `json:"on_failure,omitempty"`
	// Environments is how many environments that are not destroyed run it.
	Environments int `json:"environments"`
	// DeprecationDate: after it, the version's environments are replaced
	// or destroyed (DeprecationAction); absent: never.
	DeprecationDate   *time.Time `json:"deprecation_date,omitempty"`
	DeprecationAction string     `json:"deprecation_action,omitempty"`
	// ExpiryWarnings are the lead times before expiry at which owners are
	// warned, longest first (the defaults when the version names none;
	// empty: never).
	ExpiryWarnings []string `json:"expiry_warnings"`
}

type onFailureJSON struct {
	KeepStack string `json:"keep_stack"` // a duration: the failed stack is kept this long for debugging
}

// driftPolicy is a version's drift schedule and remedy.
type driftPolicy struct {
	Interval string `json:"interval"` // "24h", or "off"
	Remedy   string `json:"remedy"`   // manual or replace
}

type ttlJSON struct {
	Default string `json:"default"`
	Max     string `json:"max"`
}

func toTemplateJSON(t envs.Template) templateJSON {
	out := templateJSON{Name: t.Name, Kind: string(t.Kind), Description: t.Description, Owner: t.Owner, OwnerTeam: t.OwnerTeam, Versions: []versionJSON{}}
	if l, ok := t.Latest(); ok && l.DeprecatedAt == nil {
		out.Latest = l.Spec.Version
	}
	for _, v := range t.Versions {
		out.Versions = append(out.Versions, toVersionJSON(v))
	}
	return out
}

func toVersionJSON(v envs.Version) versionJSON {
	params := v.Spec.Parameters
	if params == nil {
		params = []envs.Param{}
	}
	out := versionJSON{
		Version: v.Spec.Version, Digest: v.Digest, Kind: string(v.Spec.Kind), Description: v.Spec.Description,
		Provider: v.Spec.Provider, TTL: ttlJSON{Default: v.Spec.TTL.Default.String(), Max: v.Spec.TTL.Max.String()},
		Parameters: params, Deprecated: v.DeprecatedAt != nil, DeprecatedAt: v.DeprecatedAt,
		DeprecationNote: v.DeprecationNote, PublishedAt: v.PublishedAt, PublishedBy: v.PublishedBy,
		Teams: v.Spec.Teams, Drift: driftPolicy{Interval: driftInterval(v.Spec.DriftSchedule()), Remedy: string(v.Spec.DriftRemedy())},
		Environments: v.Live, DeprecationDate: v.DeprecationDate, DeprecationAction: string(v.DeprecationAction),
	}
	if f := v.Spec.OnFailure; f != nil {
		out.OnFailure = &onFailureJSON{KeepStack: f.KeepStack.String()}
	}
	out.ExpiryWarnings = []string{}
	for _, l := range v.Spec.WarningLeads() {
		out.ExpiryWarnings = append(out.ExpiryWarnings, envs.FormatDuration(l))
	}
	return out
}

type environmentJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Owner string `json:"owner"`
	// OwnerID is the owner's user id ("" for local mode and the system),
	// which decides who may act on it; owner is the name people read.
	OwnerID      string `json:"owner_id"`
	Team         string `json:"team,omitempty"`
	Template     string `json:"template"`
	Version      string `json:"version"`
	Kind         string `json:"kind"`
	Provider     string `json:"provider"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason,omitempty"`
	// DestroyGivenUp: a destroy_failed environment no longer retried,
	// waiting for an admin's retry-destroy.
	DestroyGivenUp bool   `json:"destroy_given_up,omitempty"`
	FailureReason  string `json:"failure_reason,omitempty"`
	// Params are typed by the version's parameter schema: numbers and
	// booleans stay typed (see envJSON).
	Params       map[string]any    `json:"params"`
	SecretParams []string          `json:"secret_params,omitempty"`
	Outputs      map[string]string `json:"outputs"`
	Facts        map[string]string `json:"facts,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	ReadyAt      *time.Time        `json:"ready_at,omitempty"`
	ExpiresAt    time.Time         `json:"expires_at"`
	MaxExpiresAt time.Time         `json:"max_expires_at"`
	DestroyedAt  *time.Time        `json:"destroyed_at,omitempty"`
	TTLRemaining string            `json:"ttl_remaining"`
	RTOSeconds   *float64          `json:"rto_seconds,omitempty"`
	RPOSeconds   *float64          `json:"rpo_seconds,omitempty"`
	// RelaunchedFrom is the environment this one was relaunched from;
	// PinnedSnapshot the snapshot it restores instead of the latest (its
	// source's, relaunched with same_snapshot).
	RelaunchedFrom string `json:"relaunched_from,omitempty"`
	PinnedSnapshot string `json:"pinned_snapshot,omitempty"`
	// A failed launch stays failed: StackCleanedAt is when its stack was
	// cleaned up (absent while it may still exist), StackHeldUntil until
	// when it is kept for debugging first (the template's on_failure).
	StackCleanedAt *time.Time `json:"stack_cleaned_at,omitempty"`
	StackHeldUntil *time.Time `json:"stack_held_until,omitempty"`
	// Drift: what the drift checks say of the stack (absent when its
	// provider does not check stacks, or it was never ready).
	Drift *driftJSON `json:"drift,omitempty"`
	// StackID is the stack in service; Stacks every stack it has had since
	// its first replace; Replace its latest replace (absent: never).
	StackID         string       `json:"stack_id,omitempty"`
	Stacks          []stackJSON  `json:"stacks,omitempty"`
	Replace         *replaceJSON `json:"replace,omitempty"`
	RollbackVersion string       `json:"rollback_version,omitempty"`
	// Labels are the key=value pairs it was launched with.
	Labels map[string]string `json:"labels"`
	// VersionDeprecated: its version is deprecated; DeprecationDate and
	// DeprecationAction say when it is replaced or destroyed for that.
	VersionDeprecated bool       `json:"version_deprecated"`
	DeprecationDate   *time.Time `json:"deprecation_date,omitempty"`
	DeprecationAction string     `json:"deprecation_action,omitempty"`
	// NewerVersion is the newest launchable version of its template newer
	// than its own (absent: it runs the newest).
	NewerVersion string `json:"newer_version,omitempty"`

	// Cost is its rate, accrued and projected cost in dollars (absent: its
	// version declares none); DestroyCause why it was destroyed.
	Cost         *envCostJSON `json:"cost,omitempty"`
	DestroyCause string       `json:"destroy_cause,omitempty"`
	// ExpiresSoon: live and within its version's first expiry warning's
	// lead; WarnedAt when its owner was warned about the current expiry.
	ExpiresSoon bool       `json:"expires_soon"`
	WarnedAt    *time.Time `json:"warned_at,omitempty"`
	// Deprecation is, once its version's deprecation date passed, where
	// that date's replace or destroy stands (absent: nothing pending).
	Deprecation *deprecationJSON `json:"deprecation,omitempty"`
}

// deprecationJSON is a deprecation date's action on one environment:
// state waiting (until next_try_at), replacing (target being built) or
// gave_up; reason is why the last try failed.
type deprecationJSON struct {
	Action      string     `json:"action"`
	State       string     `json:"state"`
	Target      string     `json:"target,omitempty"`
	Attempts    int        `json:"attempts"`
	MaxAttempts int        `json:"max_attempts"`
	Reason      string     `json:"reason,omitempty"`
	TriedAt     *time.Time `json:"tried_at,omitempty"`
	NextTryAt   *time.Time `json:"next_try_at,omitempty"`
}

// stackJSON is one stack of an environment: status building, in_service,
// standby (kept until standby_until for a rollback), destroying,
// destroyed or failed.
type stackJSON struct {
	ID           string     `json:"id"`
	Version      string     `json:"version"`
	Status       string     `json:"status"`
	Reason       string     `json:"reason,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	ReadyAt      *time.Time `json:"ready_at,omitempty"`
	SwitchedAt   *time.Time `json:"switched_at,omitempty"`
	StandbyUntil *time.Time `json:"standby_until,omitempty"`
	DestroyedAt  *time.Time `json:"destroyed_at,omitempty"`
}

// replaceJSON is the latest replace: state building, switched or failed.
type replaceJSON struct {
	FromVersion string     `json:"from_version"`
	ToVersion   string     `json:"to_version"`
	State       string     `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	Why         string     `json:"why,omitempty"`
	RequestedBy string     `json:"requested_by,omitempty"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

func toStacksJSON(e *envs.Environment) ([]stackJSON, *replaceJSON) {
	var out []stackJSON
	for _, st := range e.Stacks {
		out = append(out, stackJSON{ID: st.ID, Version: st.Version, Status: string(st.Status), Reason: st.Reason,
			CreatedAt: st.CreatedAt, ReadyAt: st.ReadyAt, SwitchedAt: st.SwitchedAt, StandbyUntil: st.StandbyUntil, DestroyedAt: st.DestroyedAt})
	}
	if e.Replace == nil {
		return out, nil
	}
	r := e.Replace
	rj := &replaceJSON{FromVersion: r.FromVersion, ToVersion: r.ToVersion, State: r.State, Reason: r.Reason, Why: r.Why,
		RequestedBy: r.RequestedBy, StartedAt: r.StartedAt}
	if !r.FinishedAt.IsZero() {
		f := r.FinishedAt
		rj.FinishedAt = &f
	}
	return out, rj
}

// driftJSON is an environment's drift: status never_checked, in_sync,
// drifted or check_failed; drifted is the last completed check's result.
type driftJSON struct {
	Status       string           `json:"status"`
	Drifted      bool             `json:"drifted"`
	Checking     bool             `json:"checking"`
	CheckedAt    *time.Time       `json:"checked_at,omitempty"`
	DriftedSince *time.Time       `json:"drifted_since,omitempty"`
	Items        []envs.DriftItem `json:"items"`
	Error        string           `json:"error,omitempty"`
	ErrorAt      *time.Time       `json:"error_at,omitempty"`
	RequestedAt  *time.Time       `json:"requested_at,omitempty"`
	NextCheckAt  *time.Time       `json:"next_check_at,omitempty"`
	// Interval is the version's schedule ("24h", or "off"); Remedy manual
	// or replace.
	Interval string `json:"interval"`
	Remedy   string `json:"remedy"`
}

func toDriftJSON(d *envs.Drift) *driftJSON {
	if d == nil || !d.Supported {
		return nil
	}
	out := &driftJSON{Status: d.Summary(), Drifted: d.Drifted(), Checking: d.Checking, CheckedAt: d.CheckedAt,
		DriftedSince: d.DriftedSince, Items: d.Items, Error: d.Error, ErrorAt: d.ErrorAt, RequestedAt: d.RequestedAt,
		NextCheckAt: d.NextCheck, Interval: driftInterval(d.Interval), Remedy: string(d.Remedy)}
	if out.Items == nil {
		out.Items = []envs.DriftItem{}
	}
	return out
}

// driftInterval is a drift schedule as templates write it.
func driftInterval(d time.Duration) string {
	if d == 0 {
		return "off"
	}
	return envs.FormatDuration(d)
}

func toEnvironmentJSON(e *envs.Environment, now time.Time) environmentJSON {
	out := environmentJSON{
		ID: e.ID, Name: e.Name, Owner: e.Owner, OwnerID: e.OwnerID, Team: e.Team, Template: e.Template, Version: e.Version,
		Kind: string(e.Kind), Provider: e.Provider, Status: string(e.Status), StatusReason: e.StatusReason,
		FailureReason: e.FailureReason, Params: typeless(e.Params), SecretParams: e.SecretNames, Outputs: e.Outputs,
		Facts: e.Facts, CreatedAt: e.CreatedAt, ReadyAt: e.ReadyAt, ExpiresAt: e.ExpiresAt,
		MaxExpiresAt: e.MaxExpiresAt, DestroyedAt: e.DestroyedAt, TTLRemaining: e.TimeLeft(now).Truncate(time.Second).String(),
		DestroyGivenUp: e.DestroyGivenUp(), RelaunchedFrom: e.RelaunchedFrom, PinnedSnapshot: e.PinnedSnapshot,
		StackCleanedAt: e.StackCleanedAt, StackHeldUntil: e.StackHeldUntil,
		Drift: toDriftJSON(e.Drift), Labels: e.Labels,
		VersionDeprecated: e.VersionState.Deprecated, DeprecationDate: e.VersionState.DeprecationDate,
		DeprecationAction: string(e.VersionState.DeprecationAction), NewerVersion: e.VersionState.Newer,
		ExpiresSoon: e.Expiry.Soon, WarnedAt: e.Expiry.WarnedAt,
		StackID: e.StackID, RollbackVersion: e.RollbackVersion,
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Stacks, out.Replace = toStacksJSON(e)
	out.Cost, out.DestroyCause = toEnvCostJSON(e, now), e.DestroyCause
	if d := e.Deprecation; d != nil {
		out.Deprecation = &deprecationJSON{Action: string(d.Action), State: d.State, Target: d.Target, Attempts: d.Attempts,
			MaxAttempts: d.MaxAttempts, Reason: d.Reason, TriedAt: d.TriedAt, NextTryAt: d.NextAt}
	}
	if e.RTO != nil {
		s := e.RTO.Seconds()
		out.RTOSeconds = &s
	}
	if e.RPO != nil {
		s := e.RPO.Seconds()
		out.RPOSeconds = &s
	}
	return out
}

type listJSON[T any] struct {
	Items []T `json:"items"`
}

// environmentListJSON is a page of environments with the cursors of the
// pages around it (absent at either end).
type environmentListJSON struct {
	Items      []environmentJSON `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
	PrevCursor string            `json:"prev_cursor,omitempty"`
}

// typeless is parameter values as strings, for when their types are not known.
func typeless(values map[string]string) map[string]any {
	out := make(map[string]any, len(values))
	for k, v := range values {
		out[k] = v
	}
	return out
}

// envsJSON is environments as the API answers them, with their parameter
// values typed by their versions' schemas.
func (h *Handler) envsJSON(c *echo.Context, list ...*envs.Environment) ([]environmentJSON, error) {
	typed, err := h.svc.TypedParams(c.Request().Context(), list...)
	if err != nil {
		return nil, err
	}
	now := h.svc.Now()
	out := make([]environmentJSON, len(list))
	for i, e := range list {
		out[i] = toEnvironmentJSON(e, now)
		out[i].Params = typed[i]
	}
	return out, nil
}

// envJSON answers one environment with status.
func (h *Handler) envJSON(c *echo.Context, status int, e *envs.Environment) error {
	out, err := h.envsJSON(c, e)
	if err != nil {
		return err
	}
	return c.JSON(status, out[0])
}
