package storage

import "time"

// Typed updates: the domain says which fields of a row change, by the
// model's field names, and storage turns them into columns. Each update
// struct's columns method is the only place its column names are written;
// TestUpdatesMapToColumns checks every field against the model's schema.

// Field is one column of an update: written when Set, left alone
// otherwise. A nullable column is a Field of a pointer, and Set with nil
// clears it.
type Field[T any] struct {
	Value T
	Set   bool
}

// Set is a Field that writes v.
func Set[T any](v T) Field[T] { return Field[T]{Value: v, Set: true} }

// At is a Field that writes the time t into a nullable column.
func At(t time.Time) Field[*time.Time] { return Set(&t) }

// Clear is a Field that sets a nullable column to NULL.
func Clear[T any]() Field[*T] { return Field[*T]{Set: true} }

// put adds f to cols as col when it is set.
func put[T any](cols map[string]any, col string, f Field[T]) {
	if f.Set {
		cols[col] = f.Value
	}
}

// putNull adds a nullable f to cols as col when it is set: NULL for nil,
// else the value itself (what the drivers were always given).
func putNull[T any](cols map[string]any, col string, f Field[*T]) {
	switch {
	case !f.Set:
	case f.Value == nil:
		cols[col] = nil
	default:
		cols[col] = *f.Value
	}
}

// EnvironmentUpdate changes columns of an environment (see
// Queries.Transition and Queries.UpdateEnvironment).
type EnvironmentUpdate struct {
	// Status is written by UpdateEnvironment only: the transitions set
	// the status they move to.
	Status             Field[string]
	StatusReason       Field[string]
	FailureReason      Field[string]
	Handle             Field[string]
	Outputs            Field[string] // JSON
	Facts              Field[string] // JSON
	Version            Field[string]
	VersionID          Field[int64]
	Params             Field[string] // JSON
	Secrets            Field[[]byte]
	SecretNames        Field[string]
	StackID            Field[string]
	HourlyCostMicros   Field[int64]
	ProvisionAttempt   Field[int]
	DestroyCause       Field[string]
	RTOMillis          Field[*int64]
	RPOMillis          Field[*int64]
	UpdatedAt          Field[time.Time]
	ProvisionStartedAt Field[*time.Time]
	ReadyAt            Field[*time.Time]
	DestroyRequestedAt Field[*time.Time]
	DestroyedAt        Field[*time.Time]
	DestroyGivenUpAt   Field[*time.Time]
	StackCleanedAt     Field[*time.Time]
	StackHeldUntil     Field[*time.Time]
}

func (u EnvironmentUpdate) columns() map[string]any {
	c := map[string]any{}
	put(c, "status", u.Status)
	put(c, "status_reason", u.StatusReason)
	put(c, "failure_reason", u.FailureReason)
	put(c, "handle", u.Handle)
	put(c, "outputs", u.Outputs)
	put(c, "facts", u.Facts)
	put(c, "version", u.Version)
	put(c, "version_id", u.VersionID)
	put(c, "params", u.Params)
	put(c, "secrets", u.Secrets)
	put(c, "secret_names", u.SecretNames)
	put(c, "stack_id", u.StackID)
	put(c, "hourly_cost_micros", u.HourlyCostMicros)
	put(c, "provision_attempt", u.ProvisionAttempt)
	put(c, "destroy_cause", u.DestroyCause)
	putNull(c, "rto_ms", u.RTOMillis)
	putNull(c, "rpo_ms", u.RPOMillis)
	put(c, "updated_at", u.UpdatedAt)
	putNull(c, "provision_started_at", u.ProvisionStartedAt)
	putNull(c, "ready_at", u.ReadyAt)
	putNull(c, "destroy_requested_at", u.DestroyRequestedAt)
	putNull(c, "destroyed_at", u.DestroyedAt)
	putNull(c, "destroy_given_up_at", u.DestroyGivenUpAt)
	putNull(c, "stack_cleaned_at", u.StackCleanedAt)
	putNull(c, "stack_held_until", u.StackHeldUntil)
	return c
}

// StackUpdate changes columns of a stack (see Queries.TransitionStack and
// Queries.UpdateStack).
type StackUpdate struct {
	// Status is written by UpdateStack only: TransitionStack sets the
	// status it moves to.
	Status        Field[string]
	Handle        Field[string]
	Reason        Field[string]
	Outputs       Field[string]
	Facts         Field[string]
	Replaces      Field[string]
	FromVersion   Field[string]
	RequestedBy   Field[string]
	RequestReason Field[string]
	Attempt       Field[int]
	RTOMillis     Field[*int64]
	RPOMillis     Field[*int64]
	UpdatedAt     Field[time.Time]
	RequestedAt   Field[*time.Time]
	ReadyAt       Field[*time.Time]
	SwitchedAt    Field[*time.Time]
	FailedAt      Field[*time.Time]
	StandbyUntil  Field[*time.Time]
	DestroyedAt   Field[*time.Time]
}

func (u StackUpdate) columns() map[string]any {
	c := map[string]any{}
	put(c, "status", u.Status)
	put(c, "handle", u.Handle)
	put(c, "reason", u.Reason)
	put(c, "outputs", u.Outputs)
	put(c, "facts", u.Facts)
	put(c, "replaces", u.Replaces)
	put(c, "from_version", u.FromVersion)
	put(c, "requested_by", u.RequestedBy)
	put(c, "request_reason", u.RequestReason)
	put(c, "attempt", u.Attempt)
	putNull(c, "rto_ms", u.RTOMillis)
	putNull(c, "rpo_ms", u.RPOMillis)
	put(c, "updated_at", u.UpdatedAt)
	putNull(c, "requested_at", u.RequestedAt)
	putNull(c, "ready_at", u.ReadyAt)
	putNull(c, "switched_at", u.SwitchedAt)
	putNull(c, "failed_at", u.FailedAt)
	putNull(c, "standby_until", u.StandbyUntil)
	putNull(c, "destroyed_at", u.DestroyedAt)
	return c
}

// ActivityUpdate changes columns of an environment's activity row (see
// Queries.ClaimActivity and Queries.UpdateActivity).
type ActivityUpdate struct {
	Schedule     Field[string]
	RelaunchedAs Field[string]
	UpdatedAt    Field[time.Time]
	IdleWarnedAt Field[*time.Time]
	StopAt       Field[*time.Time]
	StartAt      Field[*time.Time]
	StoppedAt    Field[*time.Time]
}

func (u ActivityUpdate) columns() map[string]any {
	c := map[string]any{}
	put(c, "schedule", u.Schedule)
	put(c, "relaunched_as", u.RelaunchedAs)
	put(c, "updated_at", u.UpdatedAt)
	putNull(c, "idle_warned_at", u.IdleWarnedAt)
	putNull(c, "stop_at", u.StopAt)
	putNull(c, "start_at", u.StartAt)
	putNull(c, "stopped_at", u.StoppedAt)
	return c
}

// RolloutUpdate changes columns of a rollout (see Queries.TransitionRollout).
type RolloutUpdate struct {
	Status     Field[string]
	Reason     Field[string]
	UpdatedAt  Field[time.Time]
	FinishedAt Field[*time.Time]
}

func (u RolloutUpdate) columns() map[string]any {
	c := map[string]any{}
	put(c, "status", u.Status)
	put(c, "reason", u.Reason)
	put(c, "updated_at", u.UpdatedAt)
	putNull(c, "finished_at", u.FinishedAt)
	return c
}

// RolloutItemUpdate changes columns of a rollout's item (see
// Queries.TransitionRolloutItem).
type RolloutItemUpdate struct {
	State      Field[string]
	Reason     Field[string]
	StartedAt  Field[*time.Time]
	FinishedAt Field[*time.Time]
}

func (u RolloutItemUpdate) columns() map[string]any {
	c := map[string]any{}
	put(c, "state", u.State)
	put(c, "reason", u.Reason)
	putNull(c, "started_at", u.StartedAt)
	putNull(c, "finished_at", u.FinishedAt)
	return c
}

// UserCheckUpdate is what a membership re-check records about a user (see
// Queries.FinishUserCheck).
type UserCheckUpdate struct {
	Email           Field[string]
	EmailUnverified Field[bool]
	Name            Field[string]
	GroupsJSON      Field[string]
	Role            Field[string]
	Teams           Field[string]
	// IdpGrant set to nil (no grant) is written as NULL.
	IdpGrant    Field[[]byte]
	ConfirmedAt Field[*time.Time]
	CheckAt     Field[*time.Time]
	CheckResult Field[string]
	CheckDetail Field[string]
}

func (u UserCheckUpdate) columns() map[string]any {
	c := map[string]any{}
	put(c, "email", u.Email)
	put(c, "email_unverified", u.EmailUnverified)
	put(c, "name", u.Name)
	put(c, "groups_json", u.GroupsJSON)
	put(c, "role", u.Role)
	put(c, "teams", u.Teams)
	if u.IdpGrant.Set {
		if u.IdpGrant.Value == nil {
			c["idp_grant"] = nil
		} else {
			c["idp_grant"] = u.IdpGrant.Value
		}
	}
	putNull(c, "confirmed_at", u.ConfirmedAt)
	putNull(c, "check_at", u.CheckAt)
	put(c, "check_result", u.CheckResult)
	put(c, "check_detail", u.CheckDetail)
	return c
}
