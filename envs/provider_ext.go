package envs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Optional provider capabilities. The orchestrator checks for them by type
// assertion, so a provider that does not need one (local) is unaffected.

// StackInfo describes one stack a provider found, for the orphan sweep.
type StackInfo struct {
	Handle        string
	Name          string
	EnvironmentID string // from the stack's tags
	StackID       string // the Mayfly stack id, from the stack's tags ("" for older stacks)
	Status        string
	CreatedAt     time.Time
}

// StackScopes tells a StackDescriber where this installation's stacks may
// be besides the provider's default place: the stack bodies of every
// published version of the provider's templates (deprecated ones too, their
// environments may still run) and the handles of its environments that are
// live or were destroyed recently. A cloud provider derives the regions and
// accounts (roles) to look in from them.
type StackScopes struct {
	Stacks  []json.RawMessage
	Handles []string
}

// StackDescriber lists a provider's stacks with what the orphan sweep needs
// to judge them (their age and the environment they were created for).
type StackDescriber interface {
	// StackInfos lists the stacks of every scope and of the default one,
	// each stack once. A scope that cannot be listed (access denied, an
	// outage) does not stop the others: the stacks that could be listed
	// are returned together with an error naming each scope that failed.
	StackInfos(ctx context.Context, where StackScopes) ([]StackInfo, error)
}

// HealthChecker is a provider that can tell whether the stacks of ready
// environments are still sound (a cloud stack deleted or broken outside
// Mayfly, local processes that died). The reaper's sweep asks it about
// every ready environment of the provider; providers without it are not
// checked.
type HealthChecker interface {
	// StackHealth judges the stacks of the handles: for each handle it
	// could judge, "" when healthy or a one-line reason why not. A handle
	// it could not judge (throttled, unreachable, or checked too recently)
	// is left out, so nothing is flagged or cleared for it; err says why
	// some could not be judged.
	StackHealth(ctx context.Context, handles []string) (map[string]string, error)
}

// Choice is one value a parameter can take, with a label for the form.
type Choice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// ParamChoicer gives parameters choices that only the provider knows (the
// snapshots a DR drill can restore), newest or preferred first. ok is false
// for a parameter whose choices are not the provider's.
type ParamChoicer interface {
	ParamChoices(ctx context.Context, stack json.RawMessage, param string) (choices []Choice, ok bool, err error)
}

// RetainingDestroyer retries a failed destroy leaving named resources in
// place (CloudFormation's RetainResources).
type RetainingDestroyer interface {
	DestroyRetaining(ctx context.Context, handle string, retain []string) (done bool, err error)
}

// ProvisionTimeouter is a provider whose stacks legitimately take longer to
// come up than the orchestrator's default (a database restored from a
// snapshot in the cloud takes tens of minutes).
type ProvisionTimeouter interface {
	ProvisionTimeout() time.Duration
}

func provisionTimeout(p Provider, def time.Duration) time.Duration {
	if pt, ok := p.(ProvisionTimeouter); ok {
		return max(def, pt.ProvisionTimeout())
	}
	return def
}

// DestroyTimeouter is a provider whose stacks legitimately take longer to be
// deleted than the orchestrator's default destroy timeout.
type DestroyTimeouter interface {
	DestroyTimeout() time.Duration
}

// destroyTimeout bounds how long a destroy may stay in progress (the
// provider still deleting) before it is given up: the configured default,
// or the provider's own if longer.
func destroyTimeout(p Provider, def time.Duration) time.Duration {
	if dt, ok := p.(DestroyTimeouter); ok {
		return max(def, dt.DestroyTimeout())
	}
	return def
}

// SnapshotPinner is a provider that can restore a given snapshot rather
// than the latest one (ProvisionRequest.Snapshot): a relaunch "from the
// same snapshot" restores the very snapshot its source restored.
type SnapshotPinner interface {
	// PinSnapshot returns the parameter values that launch the stack with
	// the snapshot (a FactSnapshotName one of its stacks recorded): params
	// itself, or a copy in which the parameter that chooses the snapshot
	// names it (aws). A stack that restores no snapshot, or values that
	// choose another one, are refused with an *Error naming the field.
	PinSnapshot(stack json.RawMessage, params map[string]string, snapshot string) (map[string]string, error)
	// CheckSnapshot reports whether the stack can still restore the
	// snapshot: nil when it can, a *SnapshotGoneError when it no longer
	// exists, an *Error when the stack cannot restore it at all, and any
	// other error when the provider could not tell (it is then checked
	// again when the stack is provisioned).
	CheckSnapshot(ctx context.Context, stack json.RawMessage, snapshot string) error
}

// SnapshotGoneError says that a pinned snapshot no longer exists (deleted,
// expired), so that the launch that asked for it fails at once with a
// reason people can act on, instead of restoring another snapshot.
type SnapshotGoneError struct {
	Snapshot string // as the environment recorded it
	Dataset  string // what it is a snapshot of (a dataset, a database)
}

func (e *SnapshotGoneError) Error() string {
	return fmt.Sprintf("snapshot %s of dataset %s is gone; relaunch from the latest instead", e.Snapshot, e.Dataset)
}

// StackResolver is a provider whose stack bodies may refer to files kept
// beside the templates (the tofu provider's module directory in the
// catalog). Publish calls it before ValidateStack and stores what it
// returns, the files inlined, so a version's content and digest hold them
// and a change to the directory needs a new version.
type StackResolver interface {
	ResolveStack(stack json.RawMessage) (json.RawMessage, error)
}
