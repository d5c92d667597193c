package envs

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mayflyhq/mayfly/storage"
)

// Template is a catalog entry with its versions, newest first.
type Template struct {
	Name        string
	Kind        Kind
	Description string
	Owner       string
	// OwnerTeam owns the name: its members and admins publish and
	// deprecate versions (see ownership.go).
	OwnerTeam string
	Versions  []Version
}

// Latest is the newest version that is not deprecated (or the newest one if
// every version is deprecated); ok is false when there is no version.
func (t Template) Latest() (Version, bool) {
	for _, v := range t.Versions {
		if v.DeprecatedAt == nil {
			return v, true
		}
	}
	if len(t.Versions) > 0 {
		return t.Versions[0], true
	}
	return Version{}, false
}

// Version is one immutable published version of a template.
type Version struct {
	ID              int64
	Spec            Spec
	Digest          string
	Source          string
	PublishedBy     string
	PublishedAt     time.Time
	DeprecatedAt    *time.Time
	DeprecationNote string
	// DeprecationDate is when its environments are acted on
	// (DeprecationAction); nil: never. DeprecationDoneAt: when they were.
	DeprecationDate   *time.Time
	DeprecationAction DeprecationAction
	DeprecationDoneAt *time.Time
	// Live is how many environments that are not destroyed run it (the
	// catalog counts them in one query).
	Live int
}

// Retired reports whether the version is retired at now: deprecated with
// a deprecation date that has passed. A retired version is never built
// again, not even by a rollback or a replace (a deprecated one still may
// be until its date: people roll back to it while they fix the new one).
func (v Version) Retired(now time.Time) bool {
	return v.DeprecatedAt != nil && v.DeprecationDate != nil && !now.Before(*v.DeprecationDate)
}

// ShortDigest abbreviates a content digest for people ("sha256:" and the
// first 12 hex digits), as git abbreviates commits.
func ShortDigest(d string) string {
	if i := strings.Index(d, ":"); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// Environment is one launch of one template version.
type Environment struct {
	ID    string
	Name  string
	Owner string // the owner's name, as people read it
	// OwnerID is the owner's user id, which decides who may act on the
	// environment; empty for environments of local mode and of the system.
	OwnerID       string
	Team          string
	Template      string
	Version       string
	VersionID     int64
	Kind          Kind
	Provider      string
	Params        map[string]string // non-secret values
	SecretNames   []string          // names of secret parameters that were given
	Status        Status
	StatusReason  string
	FailureReason string
	Outputs       map[string]string
	Facts         map[string]string
	Handle        string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ReadyAt       *time.Time
	ExpiresAt     time.Time
	MaxExpiresAt  time.Time
	DestroyedAt   *time.Time
	// DestroyGivenUpAt is when the destroy job stopped retrying; see
	// DestroyGivenUp.
	DestroyGivenUpAt *time.Time
	RTO              *time.Duration
	RPO              *time.Duration
	// RelaunchedFrom is the environment this one was relaunched from (""
	// for an ordinary launch); see relaunch.go.
	RelaunchedFrom string
	// PinnedSnapshot is the snapshot its stack restores instead of the
	// latest ("": the latest): its source's, when it was relaunched from
	// the same snapshot.
	PinnedSnapshot string
	// StackCleanedAt is when a failed launch's stack was cleaned up (the
	// environment stays failed); StackHeldUntil is until when the
	// template keeps it for debugging before that (on_failure.keep_stack).
	StackCleanedAt *time.Time
	StackHeldUntil *time.Time
	// Drift is what the drift checks say of its stack; nil for an
	// environment that was never ready.
	Drift *Drift
	// StackID is the stack in service ("" until the first replace: the
	// first stack, whose id is the environment's). Stacks lists every
	// stack it has had since its first replace, oldest first; Replace is
	// the latest replace (nil if never replaced); RollbackVersion is the
	// version a rollback goes back to ("" none), RollbackInstant whether
	// its stack is still on standby. Loaded for one environment only
	// (Service.Environment), not in listings.
	StackID         string
	Stacks          []StackRecord
	Replace         *Replacement
	RollbackVersion string
	RollbackInstant bool
	// Labels are the key=value pairs it was launched with (see labels.go).
	Labels map[string]string
	// VersionState is what the catalog says of its version: deprecated,
	// the date and action set for that, a newer version (see versions.go).
	// Filled by Environment and the listings.
	VersionState VersionState
	// Deprecation is, while it is still on a version whose deprecation
	// date passed, where the deprecation's replace or destroy stands (nil:
	// nothing to say). Loaded for one environment only (Service.Environment).
	Deprecation *DeprecationProgress
	// HourlyCost is its version's cost estimate for its parameters, as
	// launched (a replace sets its new version's); DestroyCause why it was
	// destroyed (CauseTTL, CauseInactive, ...; "" while it was not). See
	// cost.go.
	HourlyCost   Money
	DestroyCause string
	// Expiry is what its expiry warnings say (see expiry.go); filled for
	// live environments by Environment and the listings.
	Expiry ExpiryState
}

// TimeLeft is how long until the reaper destroys the environment.
func (e *Environment) TimeLeft(now time.Time) time.Duration {
	if !e.Status.Live() {
		return 0
	}
	return max(e.ExpiresAt.Sub(now), 0)
}

// ExtendableBy is the longest extension still allowed.
func (e *Environment) ExtendableBy() time.Duration {
	return max(e.MaxExpiresAt.Sub(e.ExpiresAt), 0)
}

// DestroyGivenUp reports whether the environment's destroy stopped trying
// (after its last attempt, or at the destroy timeout) and waits for an
// administrator's retry, rather than being retried with backoff.
func (e *Environment) DestroyGivenUp() bool {
	return e.Status == StatusDestroyFailed && e.DestroyGivenUpAt != nil
}

// Event kinds.
const (
	EventStatus   = "status"
	EventProvider = "provider"
	EventAction   = "action"
)

// Event is one line of an environment's timeline.
type Event struct {
	ID            int64     `json:"id"`
	EnvironmentID string    `json:"environment_id"`
	At            time.Time `json:"at"`
	Kind          string    `json:"kind"`
	Status        Status    `json:"status,omitempty"`
	Message       string    `json:"message"`
	Actor         string    `json:"actor,omitempty"`
	// StackID is the stack the event is about ("": the first stack, or
	// the environment as a whole).
	StackID string `json:"stack_id,omitempty"`
}

// decodeMap reads a map that encodeMap wrote. Listings decode three per
// row, and json.Unmarshal was a tenth of the API page's CPU: encodeMap's
// output without escapes (json.Marshal's compact form) is read by hand, and
// anything else by json.Unmarshal.
func decodeMap(s string) map[string]string {
	if m, ok := decodeFlatMap(s); ok {
		return m
	}
	m := map[string]string{}
	_ = json.Unmarshal([]byte(s), &m) // written by us from a map[string]string
	return m
}

// decodeFlatMap reads {"k":"v",...} with no spaces and no backslash in any
// string; ok is false for anything else (an escape, a space, a number), for
// json.Unmarshal to read. Without a backslash, a JSON string's bytes are its
// value.
func decodeFlatMap(s string) (m map[string]string, ok bool) {
	if s == "" || s == "{}" {
		return map[string]string{}, true
	}
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	m = make(map[string]string, strings.Count(s, `":"`))
	rest := s[1 : len(s)-1]
	for {
		k, after, ok := flatString(rest)
		if !ok || len(after) == 0 || after[0] != ':' {
			return nil, false
		}
		v, after, ok := flatString(after[1:])
		if !ok {
			return nil, false
		}
		m[k] = v
		if after == "" {
			return m, true
		}
		if after[0] != ',' {
			return nil, false
		}
		rest = after[1:]
	}
}

// flatString reads a leading JSON string without escapes.
func flatString(s string) (str, rest string, ok bool) {
	if len(s) < 2 || s[0] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", false
	}
	str = s[1 : 1+end]
	if strings.IndexByte(str, '\\') >= 0 {
		return "", "", false
	}
	for i := 0; i < len(str); i++ {
		if str[i] < 0x20 { // a raw control character is not JSON
			return "", "", false
		}
	}
	if !utf8.ValidString(str) { // json.Unmarshal replaces the bad bytes
		return "", "", false
	}
	return str, s[2+end:], true
}

func encodeMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

func environmentFromRow(r *storage.Environment, secretNames []string) *Environment {
	e := &Environment{
		ID:            r.ID,
		Name:          r.Name,
		Owner:         r.Owner,
		OwnerID:       r.OwnerID,
		Team:          r.Team,
		Template:      r.TemplateName,
		Version:       r.Version,
		VersionID:     r.VersionID,
		Kind:          Kind(r.Kind),
		Provider:      r.Provider,
		Params:        decodeMap(r.Params),
		SecretNames:   secretNames,
		Status:        Status(r.Status),
		StatusReason:  r.StatusReason,
		FailureReason: r.FailureReason,
		Outputs:       decodeMap(r.Outputs),
		Facts:         decodeMap(r.Facts),
		Handle:        r.Handle,
		CreatedAt:     r.CreatedAt.UTC(),
		UpdatedAt:     r.UpdatedAt.UTC(),
		ReadyAt:       utcPtr(r.ReadyAt),
		ExpiresAt:     r.ExpiresAt.UTC(),
		MaxExpiresAt:  r.MaxExpiresAt.UTC(),
		DestroyedAt:   utcPtr(r.DestroyedAt),
	}
	e.DestroyGivenUpAt = utcPtr(r.DestroyGivenUpAt)
	e.RelaunchedFrom, e.PinnedSnapshot = r.RelaunchedFrom, r.PinnedSnapshot
	e.StackCleanedAt, e.StackHeldUntil = utcPtr(r.StackCleanedAt), utcPtr(r.StackHeldUntil)
	e.StackID = r.StackID
	e.Labels = decodeMap(r.Labels)
	e.HourlyCost, e.DestroyCause = Money(r.HourlyCostMicros), r.DestroyCause
	if r.RTOMillis != nil {
		d := time.Duration(*r.RTOMillis) * time.Millisecond
		e.RTO = &d
	}
	if r.RPOMillis != nil {
		d := time.Duration(*r.RPOMillis) * time.Millisecond
		e.RPO = &d
	}
	return e
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func eventFromRow(r storage.Event) Event {
	return Event{ID: r.ID, EnvironmentID: r.EnvironmentID, At: r.At.UTC(), Kind: r.Kind,
		Status: Status(r.Status), Message: r.Message, Actor: r.Actor, StackID: r.StackID}
}

func versionFromRow(r *storage.TemplateVersion) (Version, error) {
	spec := Spec{
		Name:        r.TemplateName,
		Version:     r.Version,
		Kind:        Kind(r.Kind),
		Description: r.Description,
		Owner:       r.Owner,
		Provider:    r.Provider,
		TTL:         TTLPolicy{Default: r.DefaultTTL, Max: r.MaxTTL},
		Stack:       json.RawMessage(r.Stack),
		Teams:       splitNames(r.Teams),
		Drift:       driftPolicyOf(r.DriftInterval, r.DriftRemedy),
	}
	if r.KeepFailedStack > 0 {
		spec.OnFailure = &FailurePolicy{KeepStack: r.KeepFailedStack}
	}
	if r.RollbackGrace != 0 {
		spec.Rollback = &RollbackPolicy{Grace: max(r.RollbackGrace, 0)}
	}
	if r.InactivityIdle > 0 {
		spec.Inactivity = &InactivityPolicy{Idle: r.InactivityIdle, WarnBefore: r.InactivityWarn}
	}
	if err := json.Unmarshal([]byte(r.Params), &spec.Parameters); err != nil {
		return Version{}, err
	}
	cost, err := decodeCost(r.Cost)
	if err != nil {
		return Version{}, err
	}
	spec.Cost = cost
	if spec.ExpiryWarnings, err = decodeWarnings(r.ExpiryWarnings); err != nil {
		return Version{}, err
	}
	return Version{
		ID: r.ID, Spec: spec, Digest: r.Digest, Source: r.Source, PublishedBy: r.PublishedBy,
		PublishedAt: r.PublishedAt.UTC(), DeprecatedAt: utcPtr(r.DeprecatedAt), DeprecationNote: r.DeprecationNote,
		DeprecationDate: utcPtr(r.DeprecationDate), DeprecationAction: DeprecationAction(r.DeprecationAction),
		DeprecationDoneAt: utcPtr(r.DeprecationDoneAt),
	}, nil
}
