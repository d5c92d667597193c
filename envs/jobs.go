package envs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mayflyhq/mayfly/storage"
)

// The orchestrator's jobs. Each is durable in the database: a job in flight
// when the process dies is taken over again (River's rescuer) and every step
// is idempotent, so it is resumed or safely retried.

type provisionArgs struct {
	EnvironmentID string `json:"environment_id"`
}

func (provisionArgs) Kind() string { return "provision" }

type destroyArgs struct {
	EnvironmentID string `json:"environment_id"`
	// Request is the destroy request the job serves: its
	// destroy_requested_at in microseconds (0 in jobs queued before it was
	// recorded). Each request gets a job of its own, so a retry requested
	// while the previous request's job is still finishing is never taken
	// for a duplicate of it, and a job whose request was superseded by a
	// later one stops (see destroyWorker.Work).
	Request int64 `json:"request,omitempty"`
}

// destroyRequest returns the time a destroy is requested at, to the
// microsecond, as both databases store it and destroyArgs.Request holds it.
func (s *Service) destroyRequest() time.Time { return s.now().Truncate(time.Microsecond) }

func (destroyArgs) Kind() string { return "destroy" }

// A destroy job is unique per environment while it is queued or running, so
// a second request (the reaper and a user at once) does not queue twice.
// Its attempts are configured (see Service.attemptOpts).
func (destroyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: uniqueWhileQueued}
}

// uniqueWhileQueued makes a job unique by its arguments while it is queued
// or running (not once it ended, as River's default would).
var uniqueWhileQueued = river.UniqueOpts{ByArgs: true,
	ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStateScheduled}}

type expireArgs struct {
	EnvironmentID string `json:"environment_id"`
}

func (expireArgs) Kind() string { return "expire" }

func (expireArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type sweepArgs struct{}

func (sweepArgs) Kind() string { return "sweep" }

func (s *Service) newJobQueue() (*storage.JobQueue, error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &provisionWorker{s: s})
	river.AddWorker(workers, &destroyWorker{s: s})
	river.AddWorker(workers, &expireWorker{s: s})
	river.AddWorker(workers, &sweepWorker{s: s})
	river.AddWorker(workers, &cleanupWorker{s: s})
	river.AddWorker(workers, &replaceWorker{s: s})
	river.AddWorker(workers, &stackDestroyWorker{s: s})
	orphanSweep := s.orphanSweepJob(workers)
	driftSweep, driftQueueConfig := s.driftJobs(workers)
	deprecationSweep := s.deprecationJobs(workers)
	notifyQueueConfig := s.notifyJobs(workers)
	s.rollouts = newRolloutRunner(s)
	river.AddWorker(workers, &rolloutWorker{r: s.rollouts})
	// A launch's provision job is inserted in the launch's transaction
	// (InsertTx), which wakes River's fetch loop on neither database: SQLite
	// has no LISTEN/NOTIFY, and on PostgreSQL River sends at most one insert
	// NOTIFY per queue per FetchCooldown, so a launch soon after another
	// sent none. Either way the job waited for the next poll, and the
	// unsaturated launch p99 was ~90 ms with a 100 ms poll. Polling every
	// 20 ms brings it under 30 ms on both, for ~2% of a core while idle (on
	// PostgreSQL, 50 indexed queries a second per replica). A 1 ms cooldown
	// on PostgreSQL woke every launch too, but fetched destroy jobs so
	// eagerly that they slowed the reaper's batches (p99 2.4-3.7 s against
	// 1.3-1.5 s); see bench/notes.md and docs/decisions.md #40.
	return s.store.NewJobQueue(&river.Config{
		Logger:            s.log.With("component", "jobs"),
		Workers:           workers,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: s.cfg.Workers}, driftQueue: driftQueueConfig, notifyQueue: notifyQueueConfig},
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		// Jobs are bounded steps (long waits snooze rather than block), so
		// one running past RescueAfter belonged to a worker that died; on
		// SQLite a restart requeues such jobs at once (see
		// storage.RequeueRunningJobs), on PostgreSQL the leader's rescuer
		// hands them to whichever replica fetches them next.
		JobTimeout:           s.cfg.JobTimeout,
		RescueStuckJobsAfter: s.cfg.RescueAfter,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(s.cfg.SweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}), orphanSweep, driftSweep, deprecationSweep},
	})
}

// Start runs the orchestrator and the reaper until Stop.
func (s *Service) Start(ctx context.Context) error {
	if err := s.jobs.Start(ctx); err != nil {
		return fmt.Errorf("envs: start job queue: %w", err)
	}
	s.stopReaper = s.startReaper()
	return nil
}

// Stop lets running jobs finish (up to ctx's deadline), then cancels them.
func (s *Service) Stop(ctx context.Context) error {
	if s.stopReaper != nil {
		s.stopReaper()
	}
	err := s.jobs.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return s.jobs.StopAndCancel(context.Background())
	}
	return err
}

// attemptOpts gives a job River's bound on attempts: the configured ones,
// which a provider's failures use up, plus spare ones for failures that are
// not the provider's (the database unreachable for a while, which also
// delays recording the provider's last failure) before River gives up on
// the job: with the backoff, an outage of many minutes.
func (s *Service) attemptOpts(attempts int) *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: attempts + 10}
}

// retryDelay is a quadratic backoff: a failed step is retried promptly, and a
// persistently failing one (destroy) is not hammered.
func (s *Service) retryDelay(attempt int) time.Time {
	d := s.cfg.RetryDelay * time.Duration(attempt*attempt)
	return time.Now().Add(min(d, 10*time.Minute))
}

// jobEnvironment locks an environment for a job and reads it; the job of
// an environment that does not exist is cancelled. Call unlock when done.
func (s *Service) jobEnvironment(ctx context.Context, id string) (r *storage.Environment, unlock func(), err error) {
	if unlock, err = s.lockEnvironment(ctx, id); err != nil {
		return nil, nil, err
	}
	r, err = s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		err = river.JobCancel(fmt.Errorf("environment %s does not exist", id))
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return r, unlock, nil
}
