package envs

import (
	"context"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/storage"
)

// The reaper: every ReapInterval, on every replica, expired environments
// move to destroying in batches. One batch is one transaction: a single
// conditional UPDATE (which re-checks status and expiry on each row, so an
// environment extended or destroyed meanwhile is left alone and none is
// reaped twice), then the batch's timeline events and destroy jobs, each
// inserted in bulk. Failed launches whose stack was cleaned up already go
// to destroyed in batches of their own, with no job. When nothing is due
// it costs two indexed queries.

// reapBatchSize bounds one reaper transaction: large enough that 10,000
// environments expiring together take a handful of transactions, small
// enough that a transaction holds SQLite's one connection for well under
// a second.
const reapBatchSize = 1000

// startReaper runs the reaper until the returned function is called; that
// function waits for a batch in flight to finish or roll back.
func (s *Service) startReaper() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.ReapInterval)
		defer t.Stop()
		var lifecycleAt time.Time
		for {
			// Warnings first: an expired environment whose warning is
			// pending is reaped only once it was attempted (expiry.go).
			if err := s.warnExpiring(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("expiry warnings", "err", err)
			}
			if _, err := s.reapExpired(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("reaper", "err", err)
			}
			// Inactivity and schedules: hours-long deadlines, looked at
			// every LifecycleInterval rather than every reaper tick.
			if time.Since(lifecycleAt) >= s.cfg.LifecycleInterval {
				lifecycleAt = time.Now()
				if err := s.RunLifecycle(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("lifecycle", "err", err)
				}
			}
			s.reaperPasses.Add(1)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
		// What was seen since the last flush is not lost with the replica.
		fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer fcancel()
		if err := s.FlushActivity(fctx, true); err != nil {
			s.log.Warn("flush activity", "err", err)
		}
	}
}

// reapWorkersPostgres is how many batches one replica runs at once on
// PostgreSQL, where each picks its rows FOR UPDATE SKIP LOCKED and so never
// the rows of another; a batch there spends most of its time waiting on
// the server. SQLite's one connection runs one batch at a time anyway.
const reapWorkersPostgres = 2

// reapExpired moves every environment whose TTL has run out to destroying
// (or, without a stack, destroyed), batch after batch, and returns how
// many it moved.
func (s *Service) reapExpired(ctx context.Context) (int, error) {
	workers := 1
	if s.store.Dialect() == "postgres" {
		workers = reapWorkersPostgres
	}
	var (
		mu    sync.Mutex
		total int
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				n, err := s.reapBatch(ctx)
				mu.Lock()
				total += n
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
				if err != nil || n < reapBatchSize {
					return
				}
			}
		})
	}
	wg.Wait()
	return total, first
}

// reaping is what a reaper batch does to the environments it picks.
type reaping struct {
	from  []string
	stack storage.StackFilter
	to    Status
	msg   string
	job   bool // queue each a destroy job
}

var (
	// An expired environment that has (or may have) a stack is destroyed.
	reapToDestroy = reaping{from: statusStrings(StatusPending, StatusProvisioning, StatusReady, StatusFailed),
		stack: storage.WithStack, to: StatusDestroying, msg: "TTL expired: destroying", job: true}
	// An expired failed launch whose stack was cleaned up already has
	// nothing left to destroy: no job, no provider call.
	reapCleaned = reaping{from: statusStrings(StatusFailed), stack: storage.StackCleaned, to: StatusDestroyed,
		msg: "Destroyed: TTL expired (the failed launch's stack was cleaned up already)"}
)

// reapBatch moves up to reapBatchSize expired environments to destroying
// with their events and destroy jobs, then (when fewer were due) failed
// launches without a stack to destroyed, each batch one transaction.
func (s *Service) reapBatch(ctx context.Context) (int, error) {
	n, err := s.reapOnce(ctx, reapToDestroy)
	if err != nil || n == reapBatchSize {
		return n, err
	}
	m, err := s.reapOnce(ctx, reapCleaned)
	return n + m, err
}

func (s *Service) reapOnce(ctx context.Context, how reaping) (int, error) {
	now := s.destroyRequest()
	updates := storage.EnvironmentUpdate{DestroyRequestedAt: storage.At(now), StatusReason: storage.Set(""), UpdatedAt: storage.Set(now),
		DestroyCause: storage.Set(CauseTTL)}
	if how.to == StatusDestroyed {
		updates.DestroyedAt = storage.At(now)
	}
	var reaped []storage.Environment
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		rows, err := tx.ExpireDue(ctx, how.from, how.stack, string(how.to), now, reapBatchSize, updates)
		if err != nil || len(rows) == 0 {
			return err
		}
		evs := make([]storage.Event, len(rows))
		audits := make([]storage.AuditEntry, len(rows))
		var jobs []river.InsertManyParams
		for i, r := range rows {
			evs[i] = storage.Event{EnvironmentID: r.ID, At: now, Kind: EventStatus, Status: string(how.to), Message: how.msg, Actor: "reaper"}
			audits[i] = *s.expiryAudit(r.ID)
			if how.job {
				jobs = append(jobs, river.InsertManyParams{Args: destroyArgs{EnvironmentID: r.ID, Request: now.UnixMicro()}, InsertOpts: s.attemptOpts(s.cfg.DestroyAttempts)})
			}
		}
		if err := tx.AddEventsLocked(ctx, evs); err != nil { // ExpireDue locked the rows
			return err
		}
		if err := tx.AuditMany(ctx, audits); err != nil {
			return err
		}
		if len(jobs) > 0 {
			if err := s.jobs.InsertManyTx(ctx, tx, jobs); err != nil {
				return err
			}
		}
		reaped = rows
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.reaped(reaped)
	return len(reaped), nil
}

// expiryAudit is the audit entry of an environment the reaper destroys
// because its TTL ran out: the destroy nobody asked for, by the reaper.
func (s *Service) expiryAudit(id string) *storage.AuditEntry {
	e := s.auditEntry(Actor{Name: "reaper", Via: "system"}, "environment.destroy", id, nil)
	e.Detail = "expired"
	return e
}

// reaped measures and announces a committed batch. The lag is measured
// once the batch is committed: that is when the environments are
// destroying (or destroyed) for everyone else.
func (s *Service) reaped(rows []storage.Environment) {
	done := s.now()
	for i := range rows {
		r := &rows[i]
		lag := done.Sub(r.ExpiresAt)
		s.metrics.ReaperLag(lag)
		s.log.Info("environment expired", "environment", r.ID, "name", r.Name, "lag", lag.String())
		s.hub.notify(r.ID)
	}
}
