package envs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/storage"
)

// The destroy job: an environment's stack destroyed, retried, or given up
// on for an admin to retry.

type destroyWorker struct {
	river.WorkerDefaults[destroyArgs]
	s *Service
}

func (w *destroyWorker) NextRetry(job *river.Job[destroyArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

func (w *destroyWorker) Work(ctx context.Context, job *river.Job[destroyArgs]) error {
	s := w.s
	r, unlock, err := s.jobEnvironment(ctx, job.Args.EnvironmentID)
	if err != nil {
		return err
	}
	defer unlock()
	if st := Status(r.Status); st != StatusDestroying && st != StatusDestroyFailed {
		return nil
	}
	if job.Args.Request != 0 && r.DestroyRequestedAt != nil && r.DestroyRequestedAt.UnixMicro() > job.Args.Request {
		return nil // a later request (an admin's retry) has a job of its own
	}
	ctx = withMasker(ctx, s.masker(r))
	var done bool
	p, known := s.providers[r.Provider]
	if known {
		done, err = w.destroy(ctx, p, r)
		if err == nil && done {
			// Every other stack it has too: a replace's candidate, a
			// standby kept for a rollback.
			done, err = s.destroyOtherStacks(ctx, p, r)
		}
	} else {
		err = &failedAttempt{fmt.Errorf("provider %q is not configured on this server", r.Provider)}
	}
	if err != nil && !isFailedAttempt(err) {
		return err // stopping, or the database failed: retried
	}
	if err != nil {
		// A provider failure on the cfg.DestroyAttempts-th attempt (or
		// later) is the last: the environment stays destroy_failed for an
		// admin to retry.
		rctx, cancel := recordCtx(ctx)
		defer cancel()
		if job.Attempt >= s.cfg.DestroyAttempts {
			return giveUp(s.destroyFailed(rctx, r, err.Error()+givenUp(job.Attempt), true))
		}
		return s.destroyFailed(rctx, r, err.Error(), false)
	}
	if !done {
		// Still being deleted: checked again after a poll interval (a
		// snooze, which uses up no attempt), until the destroy timeout.
		if reason, over := w.overdue(p, r); over {
			rctx, cancel := recordCtx(ctx)
			defer cancel()
			return giveUp(s.destroyFailed(rctx, r, reason, true))
		}
		return river.JobSnooze(s.cfg.PollInterval)
	}
	now := s.now()
	msg := "Destroyed"
	if Status(r.Status) == StatusDestroyFailed {
		msg = "Destroyed after earlier failures"
	}
	ok, err := s.transition(ctx, r, StatusDestroyed, msg, System.Name,
		storage.EnvironmentUpdate{DestroyedAt: storage.At(now), StatusReason: storage.Set(""), UpdatedAt: storage.Set(now)}, func(tx *storage.Tx) error {
			if err := s.notice(ctx, tx, s.envNotice(r, NoticeDestroyed, "Environment "+r.Name+" destroyed",
				fmt.Sprintf("%s (%s %s) is destroyed.", r.Name, r.TemplateName, r.Version))); err != nil {
				return err
			}
			if r.StackID == "" {
				return nil
			}
			_, err := tx.TransitionStack(ctx, r.StackID, []string{string(StackInService)}, string(StackDestroyed),
				storage.StackUpdate{DestroyedAt: storage.At(now), UpdatedAt: storage.Set(now)})
			return err
		})
	if err == nil && ok && r.DestroyRequestedAt != nil {
		s.metrics.DestroyDone(r.Provider, now.Sub(*r.DestroyRequestedAt))
	}
	return err
}

// destroy asks the provider to tear the stack down; done is false while it
// is still going.
func (w *destroyWorker) destroy(ctx context.Context, p Provider, r *storage.Environment) (done bool, err error) {
	return w.s.destroyStack(ctx, p, r)
}

// destroyStack asks the provider to tear r's stack down; done is false
// while it is still going.
func (s *Service) destroyStack(ctx context.Context, p Provider, r *storage.Environment) (done bool, err error) {
	handle := r.Handle
	if handle == "" {
		// A crash between the provider creating the stack and the handle
		// being saved would leave a stack without a handle, and so would a
		// Provision that failed half-way (a setup command that failed);
		// providers key stacks by environment id, so look for it under
		// that name.
		stacks, err := callProvider(ctx, s, p, "Stacks", p.Stacks)
		if err != nil && !isFailedAttempt(err) {
			return false, err
		}
		for _, h := range stacks {
			if h == r.ID {
				handle = h
			}
		}
		if handle != "" {
			// Recorded, so its logs (which outlive it) are found by it.
			if err := s.store.UpdateEnvironment(ctx, r.ID, storage.EnvironmentUpdate{Handle: storage.Set(handle), UpdatedAt: storage.Set(s.now())}); err != nil {
				return false, err
			}
			r.Handle = handle
		}
	}
	if handle == "" {
		return true, nil
	}
	return s.callDestroy(ctx, p, handle)
}

// overdue reports whether a destroy still in progress has run past its
// timeout, counted from when it was requested (an admin's retry starts it
// again), and the destroy_failed reason that says so.
func (w *destroyWorker) overdue(p Provider, r *storage.Environment) (reason string, over bool) {
	timeout := destroyTimeout(p, w.s.cfg.DestroyTimeout)
	if r.DestroyRequestedAt == nil || w.s.now().Sub(*r.DestroyRequestedAt) <= timeout {
		return "", false
	}
	return fmt.Sprintf("still being deleted after the destroy timeout of %s (gave up: %s", FormatDuration(timeout), retryFromAdminPage), true
}

// retryFromAdminPage ends the reason of a destroy that the job stopped
// trying, for the people reading it.
const retryFromAdminPage = "retry from the admin page)"

// givenUp is what a destroy_failed reason says once the job stopped trying.
func givenUp(attempts int) string {
	return fmt.Sprintf(" (gave up after %d attempts: %s", attempts, retryFromAdminPage)
}

// destroyFailed records why a destroy failed and returns an error so the
// job is retried with backoff: a *destroyFailure once it is recorded. final
// says the job gives up after this: destroy_given_up_at is set, and the
// reason tells the admin to retry.
func (s *Service) destroyFailed(ctx context.Context, r *storage.Environment, reason string, final bool) error {
	reason = oneLine(s.maskerOf(ctx, r).mask(reason))
	if Status(r.Status) == StatusDestroyFailed && r.StatusReason == reason {
		return &destroyFailure{reason} // same failure again: no new event
	}
	updates := storage.EnvironmentUpdate{StatusReason: storage.Set(reason)}
	if final {
		updates.DestroyGivenUpAt = storage.At(s.now())
	}
	if Status(r.Status) == StatusDestroyFailed {
		// The new reason and its timeline line are one change.
		err := s.store.InTx(ctx, func(tx *storage.Tx) error {
			updates.UpdatedAt = storage.Set(s.now())
			if err := tx.UpdateEnvironment(ctx, r.ID, updates); err != nil {
				return err
			}
			if final {
				if err := s.notice(ctx, tx, s.destroyGivenUpNotice(r, reason)); err != nil {
					return err
				}
			}
			return s.addEvent(ctx, tx, r.ID, EventProvider, "", "Destroy failed again: "+reason, "")
		})
		if err != nil {
			return err
		}
		s.hub.notify(r.ID)
		return &destroyFailure{reason}
	}
	msg := "Destroy failed, will retry: "
	if final {
		msg = "Destroy failed: "
	}
	var also []func(tx *storage.Tx) error
	if final {
		also = append(also, func(tx *storage.Tx) error { return s.notice(ctx, tx, s.destroyGivenUpNotice(r, reason)) })
	}
	if _, err := s.transition(ctx, r, StatusDestroyFailed, msg+reason, System.Name, updates, also...); err != nil {
		return err
	}
	s.log.Warn("destroy failed", "environment", r.ID, "reason", reason)
	return &destroyFailure{reason}
}

// destroyGivenUpNotice tells that a destroy stopped trying.
func (s *Service) destroyGivenUpNotice(r *storage.Environment, reason string) Notice {
	return s.envNotice(r, NoticeDestroyFailed, "Destroy of "+r.Name+" failed: an administrator must retry it",
		fmt.Sprintf("The destroy of %s (%s %s) stopped trying: %s", r.Name, r.TemplateName, r.Version, reason))
}

// destroyFailure is a failed destroy that is recorded on its environment.
type destroyFailure struct{ reason string }

func (e *destroyFailure) Error() string { return e.reason }

// giveUp ends a destroy job whose failure is recorded; an error that is not
// (the database failed too) is returned for River to retry, so the next
// attempt records it.
func giveUp(err error) error {
	var f *destroyFailure
	if errors.As(err, &f) {
		return river.JobCancel(err)
	}
	return err
}
