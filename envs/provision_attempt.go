package envs

import (
	"context"
	"errors"
	"fmt"

	"github.com/mayflyhq/mayfly/storage"
)

// provisionAttempt is the number of the environment's current provision
// attempt (1 for the first), handed to the provider as
// ProvisionRequest.Attempt. It is stored on the environment rather than
// taken from the job: River counts a job re-run after a crash (rescued or
// requeued at start) as a new attempt, while a snoozed poll is not one; the
// stored number moves on only in attemptFailed, so a crash mid-call or a
// re-scheduled poll re-uses the attempt, and with it the provider's
// idempotency token, and never starts a second stack.
func provisionAttempt(r *storage.Environment) int { return max(r.ProvisionAttempt, 1) }

// attemptFailed records a failed attempt of a launch that will be retried:
// the event, and, when it was the Provision call that failed (the stack
// has no handle), the next provision attempt's number, in one transaction
// before the job is retried with backoff, so the retry asks the provider
// for a new stack (a cloud provider adopts its own stack of the name should
// the failed call have created one after all). A failed status check keeps
// the attempt: the stack it asked about is still the one being made.
func (s *Service) attemptFailed(ctx context.Context, r *storage.Environment, cause error, jobAttempt int) error {
	m := s.maskerOf(ctx, r)
	if m != nil {
		// The error goes to River, which logs and stores it.
		cause = &failedAttempt{errors.New(m.mask(cause.Error()))}
	}
	msg := oneLine(fmt.Sprintf("Provisioning attempt %d of %d failed, retrying: %s", jobAttempt, s.cfg.ProvisionAttempts, cause))
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		if r.Handle == "" {
			ok, err := tx.Transition(ctx, r.ID, statusStrings(StatusProvisioning), string(StatusProvisioning),
				storage.EnvironmentUpdate{ProvisionAttempt: storage.Set(provisionAttempt(r) + 1), UpdatedAt: storage.Set(s.now())})
			if err != nil || !ok {
				return err
			}
		}
		return s.addEvent(ctx, tx, r.ID, EventProvider, "", msg, "")
	})
	if err != nil {
		return err
	}
	s.hub.notify(r.ID)
	return cause
}
