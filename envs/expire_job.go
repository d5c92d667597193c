package envs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/storage"
)

// The reaper's jobs: an expired environment's destroy requested, and the
// backstop sweep.

type expireWorker struct {
	river.WorkerDefaults[expireArgs]
	s *Service
}

// Work runs at the environment's expiry. Extending moves expires_at without
// touching this job: when it fires early it snoozes until the new expiry.
// Launches no longer queue it (the reaper acts on expiry, see reaper.go);
// the worker stays for jobs queued before that change.
func (w *expireWorker) Work(ctx context.Context, job *river.Job[expireArgs]) error {
	s := w.s
	var snooze time.Duration
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		r, err := tx.Environment(ctx, job.Args.EnvironmentID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !Status(r.Status).Live() {
			return nil
		}
		now := s.now()
		if left := r.ExpiresAt.Sub(now); left > 0 {
			snooze = left
			return nil
		}
		return s.expire(ctx, tx, r, now)
	})
	if err != nil {
		return err
	}
	if snooze > 0 {
		return river.JobSnooze(snooze)
	}
	return nil
}

// expire moves an expired environment to destroying, exactly once: the
// transition is conditional on the current status.
func (s *Service) expire(ctx context.Context, tx *storage.Tx, r *storage.Environment, now time.Time) error {
	ok, err := s.requestDestroy(ctx, tx, r, "TTL expired: destroying", "reaper", now)
	if err != nil {
		return err
	}
	if ok {
		if err := tx.Audit(ctx, s.expiryAudit(r.ID)); err != nil {
			return err
		}
		lag := now.Sub(r.ExpiresAt)
		s.metrics.ReaperLag(lag)
		s.log.Info("environment expired", "environment", r.ID, "name", r.Name, "lag", lag.String())
		defer s.hub.notify(r.ID)
	}
	return nil
}

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	s *Service
}

// Work is the reaper's backstop, run periodically on the elected leader and
// once at start: it reaps what the reaper's loop has not (yet), and
// destroys stacks no live environment owns.
func (w *sweepWorker) Work(ctx context.Context, job *river.Job[sweepArgs]) error {
	s := w.s
	if err := s.warnExpiring(ctx); err != nil {
		return err
	}
	if _, err := s.reapExpired(ctx); err != nil {
		return err
	}
	if err := s.checkReady(ctx); err != nil {
		return err
	}
	if err := s.sweepLaunchKeys(ctx); err != nil {
		return err
	}
	if _, err := s.store.PruneNotifyDeliveries(ctx, s.now().Add(-deliveryLogKept)); err != nil {
		return err
	}
	return s.sweepOrphans(ctx)
}
