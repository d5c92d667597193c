package envs

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
}

func (destroyArgs) Kind() string { return "destroy" }

// A destroy job is unique per environment while it is queued or running, so
// a second request (the reaper and a user at once) does not queue twice.
func (destroyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

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
	orphanSweep := s.orphanSweepJob(workers)
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
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: s.cfg.Workers}},
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
			&river.PeriodicJobOpts{RunOnStart: true}), orphanSweep},
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

// retryDelay is a linear backoff: a failed step is retried promptly, and a
// persistently failing one (destroy) is not hammered.
func (s *Service) retryDelay(attempt int) time.Time {
	d := s.cfg.RetryDelay * time.Duration(attempt*attempt)
	return time.Now().Add(min(d, 10*time.Minute))
}

// --- provision ---

type provisionWorker struct {
	river.WorkerDefaults[provisionArgs]
	s *Service
}

const provisionAttempts = 3

func (w *provisionWorker) NextRetry(job *river.Job[provisionArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

func (w *provisionWorker) Work(ctx context.Context, job *river.Job[provisionArgs]) error {
	s := w.s
	id := job.Args.EnvironmentID
	unlock, err := s.lockEnvironment(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()

	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("environment %s does not exist", id))
	}
	if err != nil {
		return err
	}
	switch Status(r.Status) {
	case StatusPending:
		ok, err := s.transition(ctx, r, StatusProvisioning, fmt.Sprintf("Provisioning on %s", r.Provider), System.Name,
			map[string]any{"provision_started_at": s.now()})
		if err != nil || !ok {
			return err
		}
	case StatusProvisioning:
	default:
		return nil // destroyed, or being destroyed, before it came up: nothing to do
	}
	p, ok := s.providers[r.Provider]
	if !ok {
		return s.failLaunch(ctx, r, fmt.Sprintf("provider %q is not configured on this server", r.Provider))
	}
	if timeout := provisionTimeout(p, s.cfg.ProvisionTimeout); r.ProvisionStartedAt != nil && s.now().Sub(*r.ProvisionStartedAt) > timeout {
		return s.failLaunch(ctx, r, fmt.Sprintf("did not become ready within %s", FormatDuration(timeout)))
	}
	if r.Handle == "" {
		handle, err := w.provision(ctx, p, r)
		if err != nil {
			if job.Attempt >= provisionAttempts {
				return s.failLaunch(ctx, r, err.Error())
			}
			s.event(ctx, id, EventProvider, fmt.Sprintf("Provisioning attempt %d failed, retrying: %s", job.Attempt, err), "")
			return err
		}
		if err := s.store.UpdateEnvironment(ctx, id, map[string]any{"handle": handle, "updated_at": s.now()}); err != nil {
			return err
		}
		r.Handle = handle
		s.event(ctx, id, EventProvider, "Stack created: "+handle, "")
	}
	st, err := p.Status(ctx, r.Handle)
	if err != nil {
		// A provider that cannot be reached is retried; the stack is not lost.
		return fmt.Errorf("status of %s: %w", r.Handle, err)
	}
	s.providerEvents(ctx, id, st.Events)
	switch st.State {
	case StackReady:
		return s.markReady(ctx, r, st)
	case StackFailed:
		return s.failLaunch(ctx, r, cmpOr(st.Reason, "the stack failed"))
	default:
		return river.JobSnooze(s.cfg.PollInterval)
	}
}

func (w *provisionWorker) provision(ctx context.Context, p Provider, r *storage.Environment) (string, error) {
	s := w.s
	v, err := s.store.VersionByID(ctx, r.VersionID)
	if err != nil {
		return "", fmt.Errorf("load version: %w", err)
	}
	params := decodeMap(r.Params)
	secrets, err := s.cipher.open(r.Secrets, r.ID)
	if err != nil {
		return "", err
	}
	for k, val := range secrets {
		params[k] = val
	}
	return p.Provision(ctx, ProvisionRequest{
		EnvironmentID: r.ID, Name: r.Name, Owner: r.Owner, Template: r.TemplateName, Version: r.Version,
		Stack: []byte(v.Stack), Params: params, ExpiresAt: r.ExpiresAt.UTC(),
		InstanceID: s.instance, Attempt: 1,
	})
}

func (s *Service) markReady(ctx context.Context, r *storage.Environment, st StackStatus) error {
	now := s.now()
	updates := map[string]any{"ready_at": now, "outputs": encodeMap(st.Outputs), "facts": encodeMap(st.Facts), "updated_at": now}
	msg := "Ready"
	if Kind(r.Kind) == KindDR {
		rto := now.Sub(r.CreatedAt)
		updates["rto_ms"] = rto.Milliseconds()
		msg = fmt.Sprintf("Recovered and verified: RTO %s", FormatDuration(rto))
		if taken, err := time.Parse(time.RFC3339, st.Facts[FactSnapshotTakenAt]); err == nil {
			rpo := max(r.CreatedAt.Sub(taken), 0)
			updates["rpo_ms"] = rpo.Milliseconds()
			msg += fmt.Sprintf(", RPO %s", FormatDuration(rpo))
		}
	}
	ok, err := s.transition(ctx, r, StatusReady, msg, System.Name, updates)
	if err == nil && ok {
		s.metrics.ProvisionDone(r.Provider, now.Sub(r.CreatedAt), true)
	}
	return err
}

// failLaunch records a failed launch with its reason and, in the same
// transaction, queues the clean-up of whatever the stack left behind.
func (s *Service) failLaunch(ctx context.Context, r *storage.Environment, reason string) error {
	reason = oneLine(reason)
	now := s.now()
	var failed bool
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.Transition(ctx, r.ID, statusStrings(From(StatusFailed)...), string(StatusFailed),
			map[string]any{"failure_reason": reason, "status_reason": reason, "updated_at": now})
		if err != nil || !ok {
			return err
		}
		failed = true
		if err := s.addEvent(ctx, tx, r.ID, EventStatus, StatusFailed, "Launch failed: "+reason, System.Name); err != nil {
			return err
		}
		_, err = s.requestDestroy(ctx, tx, r, "Cleaning up the failed launch", System.Name, time.Time{})
		return err
	})
	if err == nil && failed {
		s.metrics.ProvisionDone(r.Provider, now.Sub(r.CreatedAt), false)
		s.log.Warn("launch failed", "environment", r.ID, "reason", reason)
		s.hub.notify(r.ID)
	}
	return err
}

// transition moves r to `to` (from any status the lifecycle allows) with an
// event, in one transaction. It reports false when r was no longer in a
// status that allows it.
func (s *Service) transition(ctx context.Context, r *storage.Environment, to Status, msg, actor string, updates map[string]any) (bool, error) {
	if updates == nil {
		updates = map[string]any{}
	}
	if _, ok := updates["updated_at"]; !ok {
		updates["updated_at"] = s.now()
	}
	var changed bool
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.Transition(ctx, r.ID, statusStrings(From(to)...), string(to), updates)
		if err != nil || !ok {
			return err
		}
		changed = true
		return s.addEvent(ctx, tx, r.ID, EventStatus, to, msg, actor)
	})
	if changed {
		r.Status = string(to)
		s.hub.notify(r.ID)
	}
	return changed, err
}

// event appends a timeline line outside any state change; failing to record
// it is logged and does not fail the job.
func (s *Service) event(ctx context.Context, envID, kind, msg, actor string) {
	err := s.store.AddEvent(ctx, &storage.Event{EnvironmentID: envID, At: s.now(), Kind: kind, Message: oneLine(msg), Actor: actor})
	if err != nil {
		s.log.Error("record event", "environment", envID, "err", err)
		return
	}
	s.hub.notify(envID)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", "")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

// --- destroy ---

type destroyWorker struct {
	river.WorkerDefaults[destroyArgs]
	s *Service
}

func (w *destroyWorker) NextRetry(job *river.Job[destroyArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

func (w *destroyWorker) Work(ctx context.Context, job *river.Job[destroyArgs]) error {
	s := w.s
	id := job.Args.EnvironmentID
	unlock, err := s.lockEnvironment(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()

	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("environment %s does not exist", id))
	}
	if err != nil {
		return err
	}
	if st := Status(r.Status); st != StatusDestroying && st != StatusDestroyFailed {
		return nil
	}
	handle := r.Handle
	p, ok := s.providers[r.Provider]
	if !ok {
		return s.destroyFailed(ctx, r, fmt.Sprintf("provider %q is not configured on this server", r.Provider))
	}
	if handle == "" {
		// A crash between the provider creating the stack and the handle
		// being saved would leave a stack without a handle; providers key
		// stacks by environment id, so look for it under that name.
		if stacks, err := p.Stacks(ctx); err == nil {
			for _, h := range stacks {
				if h == r.ID {
					handle = h
				}
			}
		}
	}
	if handle != "" {
		done, err := p.Destroy(ctx, handle)
		if err != nil {
			return s.destroyFailed(ctx, r, err.Error())
		}
		if !done {
			return river.JobSnooze(s.cfg.PollInterval)
		}
	}
	now := s.now()
	msg := "Destroyed"
	if Status(r.Status) == StatusDestroyFailed {
		msg = "Destroyed after earlier failures"
	}
	ok, err = s.transition(ctx, r, StatusDestroyed, msg, System.Name,
		map[string]any{"destroyed_at": now, "status_reason": "", "updated_at": now})
	if err == nil && ok && r.DestroyRequestedAt != nil {
		s.metrics.DestroyDone(r.Provider, now.Sub(*r.DestroyRequestedAt))
	}
	return err
}

// destroyFailed records why a destroy failed and returns an error so the
// job is retried with backoff.
func (s *Service) destroyFailed(ctx context.Context, r *storage.Environment, reason string) error {
	reason = oneLine(reason)
	if Status(r.Status) == StatusDestroyFailed && r.StatusReason == reason {
		return errors.New(reason) // same failure again: no new event
	}
	if Status(r.Status) == StatusDestroyFailed {
		if err := s.store.UpdateEnvironment(ctx, r.ID, map[string]any{"status_reason": reason, "updated_at": s.now()}); err != nil {
			return err
		}
		s.event(ctx, r.ID, EventProvider, "Destroy failed again: "+reason, "")
		return errors.New(reason)
	}
	if _, err := s.transition(ctx, r, StatusDestroyFailed, "Destroy failed, will retry: "+reason, System.Name,
		map[string]any{"status_reason": reason}); err != nil {
		return err
	}
	s.log.Warn("destroy failed", "environment", r.ID, "reason", reason)
	return errors.New(reason)
}

// --- reaper ---

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
	if _, err := s.reapExpired(ctx); err != nil {
		return err
	}
	if err := s.checkReady(ctx); err != nil {
		return err
	}
	return s.sweepOrphans(ctx)
}

// checkReady looks at the stacks of ready environments on providers that
// own their host (local): a stack whose processes died (a crash, a reboot
// while Mayfly was down) is flagged on its environment with the reason, so
// nobody is left wondering why its URL does not answer.
func (s *Service) checkReady(ctx context.Context) error {
	p, ok := s.providers["local"]
	if !ok {
		return nil
	}
	ready, err := s.store.Environments(ctx, storage.EnvironmentFilter{Statuses: statusStrings(StatusReady), Limit: 500})
	if err != nil {
		return err
	}
	for i := range ready {
		r := &ready[i]
		if r.Provider != p.Name() || r.Handle == "" {
			continue
		}
		st, err := p.Status(ctx, r.Handle)
		if err != nil {
			continue // the provider could not tell; try again next sweep
		}
		reason := ""
		if st.State == StackFailed {
			reason = "Stack is not healthy: " + oneLine(st.Reason)
		}
		if reason == r.StatusReason {
			continue
		}
		if err := s.store.UpdateEnvironment(ctx, r.ID, map[string]any{"status_reason": reason, "updated_at": s.now()}); err != nil {
			return err
		}
		if reason != "" {
			s.event(ctx, r.ID, EventProvider, reason, "")
		} else {
			s.event(ctx, r.ID, EventProvider, "Stack is healthy again", "")
		}
	}
	return nil
}
