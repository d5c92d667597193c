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

// reapableStatuses are the statuses an expired environment is reaped from:
// one with a stack to destroying, a failed launch whose stack was cleaned
// up already straight to destroyed (nothing is left to destroy).
var (
	reapableStatuses = statusStrings(StatusPending, StatusProvisioning, StatusReady, StatusFailed)
	reapableCleaned  = statusStrings(StatusFailed)
)

// startReaper runs the reaper until the returned function is called; that
// function waits for a batch in flight to finish or roll back.
func (s *Service) startReaper() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.ReapInterval)
		defer t.Stop()
		for {
			if _, err := s.reapExpired(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("reaper", "err", err)
			}
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
				if err == nil && n < reapBatchSize {
					var m int
					m, err = s.reapCleanedBatch(ctx)
					n += m
				}
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

// reapBatch moves up to reapBatchSize expired environments to destroying
// with their events and destroy jobs, in one transaction.
func (s *Service) reapBatch(ctx context.Context) (int, error) {
	now := s.destroyRequest()
	var reaped []storage.Environment
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		rows, err := tx.ExpireDue(ctx, reapableStatuses, storage.WithStack, string(StatusDestroying), now, reapBatchSize,
			map[string]any{"destroy_requested_at": now, "status_reason": "", "updated_at": now})
		if err != nil || len(rows) == 0 {
			return err
		}
		evs := make([]storage.Event, len(rows))
		jobs := make([]river.InsertManyParams, len(rows))
		for i, r := range rows {
			evs[i] = storage.Event{EnvironmentID: r.ID, At: now, Kind: EventStatus, Status: string(StatusDestroying),
				Message: "TTL expired: destroying", Actor: "reaper"}
			jobs[i] = river.InsertManyParams{Args: destroyArgs{EnvironmentID: r.ID, Request: now.UnixMicro()}, InsertOpts: s.attemptOpts(s.cfg.DestroyAttempts)}
		}
		if err := tx.AddEventsLocked(ctx, evs); err != nil { // ExpireDue locked the rows
			return err
		}
		if err := s.jobs.InsertManyTx(ctx, tx, jobs); err != nil {
			return err
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

// reapCleanedBatch moves up to reapBatchSize expired failed launches whose
// stack was cleaned up already to destroyed, with their events, in one
// transaction: no job, no provider call.
func (s *Service) reapCleanedBatch(ctx context.Context) (int, error) {
	now := s.destroyRequest()
	var reaped []storage.Environment
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		rows, err := tx.ExpireDue(ctx, reapableCleaned, storage.StackCleaned, string(StatusDestroyed), now, reapBatchSize,
			map[string]any{"destroy_requested_at": now, "destroyed_at": now, "status_reason": "", "updated_at": now})
		if err != nil || len(rows) == 0 {
			return err
		}
		evs := make([]storage.Event, len(rows))
		for i, r := range rows {
			evs[i] = storage.Event{EnvironmentID: r.ID, At: now, Kind: EventStatus, Status: string(StatusDestroyed),
				Message: "Destroyed: TTL expired (the failed launch's stack was cleaned up already)", Actor: "reaper"}
		}
		if err := tx.AddEventsLocked(ctx, evs); err != nil { // ExpireDue locked the rows
			return err
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
