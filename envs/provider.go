package envs

import (
	"context"
	"encoding/json"
	"time"
)

// Provider turns a template version plus parameters into a running stack and
// back into nothing. Implementations live in sub-packages (envs/local,
// envs/aws) and never touch the database: the orchestrator persists what they
// return.
//
// Every method must be idempotent and safe to call again after a crash: the
// orchestrator retries jobs, so Provision may be called twice for the same
// environment and Destroy may be called for a stack that is already gone.
type Provider interface {
	// Name is the value templates put in their `provider` field.
	Name() string

	// ValidateStack checks a version's stack body at publish time. Errors
	// should name the field at fault (see FieldError).
	ValidateStack(stack json.RawMessage) error

	// Provision starts creating the stack and returns its handle; it does
	// not wait for the stack to become healthy (Status does). Calling it
	// again for the same environment returns the existing handle. One that
	// takes a while (the local provider runs setup commands) reports each
	// step as it happens through req.Progress. It stops when ctx is done
	// (a destroy was requested, the job timed out): it ends what it
	// started, starts nothing more, and returns.
	Provision(ctx context.Context, req ProvisionRequest) (handle string, err error)

	// Status reports how provisioning is going. Events holds provider events
	// that happened since the previous call (each reported once).
	Status(ctx context.Context, handle string) (StackStatus, error)

	// Destroy tears the stack down. done is false while deletion is still in
	// progress (the orchestrator calls again later). A stack that does not
	// exist is destroyed: done is true and err is nil.
	Destroy(ctx context.Context, handle string) (done bool, err error)

	// Logs returns the captured log of one service (or all when service is
	// empty), at most limit bytes from the end. Logs outlive the stack.
	Logs(ctx context.Context, handle, service string, limit int) ([]LogStream, error)

	// Stacks lists the handles of every stack this provider knows about, so
	// the orchestrator can find stacks again after a restart and spot orphans.
	Stacks(ctx context.Context) ([]string, error)
}

// ProvisionRequest is everything a provider needs to build one stack.
type ProvisionRequest struct {
	EnvironmentID string
	// StackID is the stack's own id, which providers key it by (work dir,
	// cloud stack name, tags, idempotency tokens): an environment may have
	// two stacks at once while one replaces the other (see replace.go).
	// Its first stack's is the environment's id; "" means that too.
	StackID  string
	Name     string
	Owner    string
	Template string
	Version  string
	// Stack is the provider-specific body of the template version, as JSON.
	Stack json.RawMessage
	// Params holds every parameter value as a string, secrets decrypted.
	Params    map[string]string
	ExpiresAt time.Time
	// InstanceID is this Mayfly installation's id, for providers that tag
	// what they create (the orphan sweep leaves other installations alone).
	InstanceID string
	// Attempt numbers launches of one environment (1 for the first); cloud
	// providers derive idempotency tokens from the id and the attempt, so
	// retried calls of one attempt never create a second stack.
	Attempt int
	// Snapshot, when set, is the snapshot to restore instead of the latest:
	// the FactSnapshotName an earlier stack of the template recorded (a
	// relaunch "from the same snapshot"). Only a SnapshotPinner gets one; it
	// fails with a *SnapshotGoneError when that snapshot no longer exists,
	// rather than restore another.
	Snapshot string
	// Progress receives the steps of Provision as they happen, for the
	// timeline; never nil when the orchestrator calls. A provider whose
	// Provision returns at once may leave it alone and report through
	// Status.
	Progress Progress
}

// Progress is how a provider reports what a Provision call is doing while
// it runs, so that the timeline shows each step when it happens, with its
// time, rather than all of them at the next Status. Each call records at
// once (masked like every provider text, and pushed to live timelines)
// and returns when recorded; calls come from the goroutine running
// Provision, in order. What is reported after a destroy was requested is
// dropped: the launch no longer goes on. Nothing is reported back: a
// step the database could not record is logged and lost, like an event
// of Status.
type Progress interface {
	// StackCreated says the stack now exists under handle, before
	// Provision returns it: "Stack created" is shown then (once, also
	// when a retried Provision reports it again).
	StackCreated(handle string)
	// Event records one step (its At is when it happened; zero: now).
	Event(ProviderEvent)
}

// StackState is the provisioning progress a provider reports.
type StackState string

const (
	StackInProgress StackState = "in_progress"
	StackReady      StackState = "ready"
	StackFailed     StackState = "failed"
)

// StackStatus is one observation of a stack.
type StackStatus struct {
	State StackState
	// Reason explains a failure in one line a user can act on.
	Reason string
	// Outputs are the stack's URLs and endpoints, shown to users once ready.
	Outputs map[string]string
	// Facts are provider observations recorded on the environment, such as
	// "snapshot_taken_at" (RFC 3339) for a restored snapshot or
	// "verified_at" when a restore check passed.
	Facts  map[string]string
	Events []ProviderEvent
}

// ProviderEvent is one line of provider progress for the timeline.
type ProviderEvent struct {
	At      time.Time
	Message string
	// ID, when set, says the provider may report this event again (after
	// a restart it no longer remembers what it reported); an event whose
	// message is already in the timeline is then skipped, so providers
	// that set it make each message unique (e.g. with the event's time).
	ID string
}

// LogStream is the captured output of one service.
type LogStream struct {
	Service string
	Text    string
	// Truncated reports that earlier output was cut to respect the limit.
	Truncated bool
}

// Well-known fact keys.
const (
	FactSnapshotTakenAt = "snapshot_taken_at"
	FactSnapshotName    = "snapshot"
	FactVerifiedAt      = "verified_at"
)
