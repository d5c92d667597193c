package envs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/storage"
)

// A failed launch keeps its environment: status failed, with the reason,
// the timeline and the logs, listed under Failed and on the admin page,
// until someone destroys (dismisses) it or its TTL runs out. Its stack is
// cleaned up meanwhile by a job of its own that leaves the status alone
// and records when it is done (stack_cleaned_at): at once, or after the
// template's on_failure.keep_stack hold (stack_held_until), which keeps
// the failed processes and work directory for debugging. A destroy or an
// expiry before then destroys the stack the usual way (destroying); one
// after it needs no provider call (failed -> destroyed).

type cleanupArgs struct {
	EnvironmentID string `json:"environment_id"`
}

func (cleanupArgs) Kind() string { return "cleanup" }

// A clean-up is unique per environment while it is waiting or running.
func (cleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: uniqueWhileQueued}
}

type cleanupWorker struct {
	river.WorkerDefaults[cleanupArgs]
	s *Service
}

func (w *cleanupWorker) NextRetry(job *river.Job[cleanupArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

// Work destroys the stack of a failed launch, which stays failed. A
// provider failure is retried with backoff, up to the destroy attempts;
// the stack then waits for the environment's destroy or expiry, which
// try again the usual way.
func (w *cleanupWorker) Work(ctx context.Context, job *river.Job[cleanupArgs]) error {
	s := w.s
	r, unlock, err := s.jobEnvironment(ctx, job.Args.EnvironmentID)
	if err != nil {
		return err
	}
	defer unlock()
	if Status(r.Status) != StatusFailed || r.StackCleanedAt != nil {
		return nil // destroyed, or being destroyed, meanwhile: the destroy does it
	}
	if r.StackHeldUntil != nil {
		if left := r.StackHeldUntil.Sub(s.now()); left > 0 {
			return river.JobSnooze(left)
		}
	}
	ctx = withMasker(ctx, s.masker(r))
	var done bool
	if p, known := s.providers[r.Provider]; known {
		done, err = s.destroyStack(ctx, p, r)
	} else {
		err = &failedAttempt{fmt.Errorf("provider %q is not configured on this server", r.Provider)}
	}
	if err != nil && !isFailedAttempt(err) {
		return err // stopping, or the database failed: retried
	}
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	if err != nil {
		return s.cleanupFailed(rctx, r, err, job.Attempt)
	}
	if !done {
		return river.JobSnooze(s.cfg.PollInterval) // still being deleted
	}
	return s.stackCleaned(rctx, r)
}

// stackCleaned records that a failed launch's stack is gone, with its
// timeline line, while the environment is still failed.
func (s *Service) stackCleaned(ctx context.Context, r *storage.Environment) error {
	now := s.now()
	var cleaned bool
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.Transition(ctx, r.ID, statusStrings(StatusFailed), string(StatusFailed),
			storage.EnvironmentUpdate{StackCleanedAt: storage.At(now), UpdatedAt: storage.Set(now)})
		if err != nil || !ok {
			return err
		}
		cleaned = true
		return s.addEvent(ctx, tx, r.ID, EventProvider, "", "Stack cleaned up; the failed launch stays listed until it is destroyed or expires", "")
	})
	if err == nil && cleaned {
		s.hub.notify(r.ID)
	}
	return err
}

// cleanupFailed records a failed clean-up (its first failure, and the
// last, when it gives up) and returns the error River retries on.
func (s *Service) cleanupFailed(ctx context.Context, r *storage.Environment, cause error, attempt int) error {
	reason := oneLine(s.maskerOf(ctx, r).mask(cause.Error()))
	last := attempt >= s.cfg.DestroyAttempts
	if attempt == 1 || last {
		msg := "Clean-up of the failed stack failed, will retry: " + reason
		if last {
			msg = fmt.Sprintf("Clean-up of the failed stack failed (gave up after %d attempts; destroy the environment to try again): %s", attempt, reason)
		}
		s.event(ctx, r.ID, EventProvider, msg, "")
	}
	s.log.Warn("clean-up of a failed stack failed", "environment", r.ID, "attempt", attempt, "reason", reason)
	err := &failedAttempt{errors.New(reason)}
	if last {
		return river.JobCancel(err)
	}
	return err
}
