package envs

import (
	"context"
	"fmt"

	"github.com/mayflyhq/mayfly/storage"
)

// A launch makes up to provisionAttempts attempts at creating its stack.
const provisionAttempts = 3

// provisionAttempt is the number of the environment's current provision
// attempt (1 for the first), handed to the provider as
// ProvisionRequest.Attempt. It is stored on the environment rather than
// taken from the job: River counts a job re-run after a crash (rescued or
// requeued at start) as a new attempt, while a snoozed poll is not one; the
// stored number moves on only in provisionFailed, so a crash mid-call or a
// re-scheduled poll re-uses the attempt, and with it the provider's
// idempotency token, and never starts a second stack.
func provisionAttempt(r *storage.Environment) int { return max(r.ProvisionAttempt, 1) }

// provisionFailed handles a Provision call that returned an error. The
// attempt is over: the launch fails after provisionAttempts, otherwise the
// next attempt's number is recorded with the event, in one transaction,
// before the job is retried with backoff, so the retry asks the provider for
// a new stack (a cloud provider adopts its own stack of the name should the
// failed call have created one after all).
func (s *Service) provisionFailed(ctx context.Context, r *storage.Environment, cause error) error {
	n := provisionAttempt(r)
	if n >= provisionAttempts {
		return s.failLaunch(ctx, r, cause.Error())
	}
	msg := oneLine(fmt.Sprintf("Provisioning attempt %d failed, retrying: %s", n, cause))
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.Transition(ctx, r.ID, statusStrings(StatusProvisioning), string(StatusProvisioning),
			map[string]any{"provision_attempt": n + 1, "updated_at": s.now()})
		if err != nil || !ok {
			return err
		}
		return s.addEvent(ctx, tx, r.ID, EventProvider, "", msg, "")
	})
	if err != nil {
		return err
	}
	s.hub.notify(r.ID)
	return cause
}
