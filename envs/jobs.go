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

// --- provision ---

type provisionWorker struct {
	river.WorkerDefaults[provisionArgs]
	s *Service
}

func (w *provisionWorker) NextRetry(job *river.Job[provisionArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

// Work takes a launch one step further: start provisioning, then check on
// the stack until it is ready or failed (snoozing in between, which costs no
// attempt). A provider call that fails, panics or times out on the job's
// cfg.ProvisionAttempts-th attempt (or later) fails the launch with its
// reason, so a provider fails at most that many times for one launch and
// the environment does not stay provisioning. Other errors (the database)
// are retried, up to River's bound (see attemptOpts).
func (w *provisionWorker) Work(ctx context.Context, job *river.Job[provisionArgs]) error {
	s := w.s
	r, unlock, err := s.jobEnvironment(ctx, job.Args.EnvironmentID)
	if err != nil {
		return err
	}
	defer unlock()
	ctx = withMasker(ctx, s.masker(r))
	switch Status(r.Status) {
	case StatusPending:
		ok, err := s.transition(ctx, r, StatusProvisioning, fmt.Sprintf("Provisioning on %s", r.Provider), System.Name,
			storage.EnvironmentUpdate{ProvisionStartedAt: storage.At(s.now())})
		if err != nil || !ok {
			return err
		}
	case StatusProvisioning:
	default:
		return nil // destroyed, or being destroyed, before it came up: nothing to do
	}
	// A destroy requested while the step runs cuts it short (see
	// watchDestroy): the destroy's job waits for this one's lock, and a
	// setup command must not hold it up for minutes.
	sctx, stop := s.watchDestroy(ctx, r.ID)
	err = w.step(sctx, r)
	if stop() {
		// The destroy takes over; a step that had finished (ready just
		// before the request) stopped nothing.
		if err != nil {
			rctx, cancel := recordCtx(ctx)
			defer cancel()
			s.event(rctx, r.ID, EventProvider, "Provisioning stopped for the destroy", "")
		}
		return nil
	}
	if !isFailedAttempt(err) {
		return err // done, snoozing, stopping, or the database failed: retried
	}
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	if job.Attempt >= s.cfg.ProvisionAttempts {
		return s.failLaunch(rctx, r, fmt.Sprintf("%s (attempt %d of %d)", err, job.Attempt, s.cfg.ProvisionAttempts))
	}
	var gone *SnapshotGoneError
	if errors.As(err, &gone) {
		return s.failLaunch(rctx, r, gone.Error()) // it will not come back: no retry
	}
	return s.attemptFailed(rctx, r, err, job.Attempt)
}

// step creates the stack if it has no handle yet and checks on it once.
func (w *provisionWorker) step(ctx context.Context, r *storage.Environment) error {
	s := w.s
	p, ok := s.providers[r.Provider]
	if !ok {
		return s.failLaunch(ctx, r, fmt.Sprintf("provider %q is not configured on this server", r.Provider))
	}
	if s.off[r.Provider] {
		// Turned off since the launch: not one more command or call for it
		// (a local stack's Status may run its verify commands); the failure
		// queues its destroy, which a provider turned off still does.
		return s.failLaunch(ctx, r, s.providerUnavailable(r.Provider))
	}
	if timeout := provisionTimeout(p, s.cfg.ProvisionTimeout); r.ProvisionStartedAt != nil && s.now().Sub(*r.ProvisionStartedAt) > timeout {
		return s.failLaunch(ctx, r, fmt.Sprintf("did not become ready within %s", FormatDuration(timeout)))
	}
	// created is a handle the provider has just given and that is not saved
	// yet: when the stack is ready at once (no events to record first), it
	// is saved with the transition to ready, in one transaction, rather
	// than in one of its own (a commit fewer per launch on SQLite's one
	// connection). A crash before it is saved leaves a stack without a
	// handle, which a retry or a destroy finds by the environment's id, as
	// it always could between Provision and the save.
	var created string
	announced := false // "Stack created" is in the timeline already (Progress.StackCreated)
	if r.Handle == "" {
		handle, reported, err := w.provision(ctx, p, r)
		if err != nil {
			return err
		}
		r.Handle, created, announced = handle, handle, reported == handle
	}
	st, err := callProvider(ctx, s, p, "Status", func(ctx context.Context) (StackStatus, error) { return p.Status(ctx, r.Handle) })
	if created != "" && (err != nil || st.State != StackReady || len(st.Events) > 0) {
		// Saved even when the step's context is over (a Status cut by the
		// job timeout), as it was before the Status call.
		rctx, cancel := recordCtx(ctx)
		serr := s.saveHandle(rctx, r, created, announced)
		cancel()
		if serr != nil {
			return serr
		}
		created = ""
	}
	if err != nil {
		// A provider that cannot be reached is retried; the stack is not lost.
		return fmt.Errorf("status of %s: %w", r.Handle, err)
	}
	s.providerEvents(ctx, r, st.Events)
	switch st.State {
	case StackReady:
		return s.markReady(ctx, r, st, created, announced)
	case StackFailed:
		return s.failLaunch(ctx, r, cmpOr(st.Reason, "the stack failed"))
	default:
		return river.JobSnooze(s.cfg.PollInterval)
	}
}

// provision asks the provider for the stack; reported is the handle the
// provider said it created while the call ran (Progress.StackCreated).
func (w *provisionWorker) provision(ctx context.Context, p Provider, r *storage.Environment) (handle, reported string, err error) {
	s := w.s
	v, err := s.store.VersionByID(ctx, r.VersionID)
	if err != nil {
		return "", "", fmt.Errorf("load version: %w", err)
	}
	params := decodeMap(r.Params)
	secrets, err := s.cipher.open(r.Secrets, r.ID)
	if err != nil {
		return "", "", &failedAttempt{err}
	}
	for k, val := range secrets {
		params[k] = val
	}
	prog := s.newProgress(ctx, r)
	req := ProvisionRequest{
		EnvironmentID: r.ID, Name: r.Name, Owner: r.Owner, Template: r.TemplateName, Version: r.Version,
		Stack: []byte(v.Stack), Params: params, ExpiresAt: r.ExpiresAt.UTC(),
		InstanceID: s.instance, Attempt: provisionAttempt(r), Snapshot: r.PinnedSnapshot, Progress: prog,
	}
	handle, err = callProvider(ctx, s, p, "Provision", func(ctx context.Context) (string, error) { return p.Provision(ctx, req) })
	return handle, prog.close(), err
}

// saveHandle records the stack's handle with its timeline event (unless
// the provider announced the stack already, or the launch no longer goes
// on: a destroy requested meanwhile needs the handle, not the line).
func (s *Service) saveHandle(ctx context.Context, r *storage.Environment, handle string, announced bool) error {
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		if err := tx.UpdateEnvironment(ctx, r.ID, storage.EnvironmentUpdate{Handle: storage.Set(handle), UpdatedAt: storage.Set(s.now())}); err != nil {
			return err
		}
		if announced {
			return nil
		}
		_, err := tx.AddEventWhile(ctx, &storage.Event{EnvironmentID: r.ID, At: s.now(), Kind: EventProvider,
			Message: stackCreatedMessage(handle)}, provisioningStatuses)
		return err
	})
	if err == nil {
		s.hub.notify(r.ID)
	}
	return err
}

func stackCreatedMessage(handle string) string { return oneLine("Stack created: " + handle) }

// markReady moves r to ready; created is a handle not saved yet (see step),
// saved in the same transaction, with its "Stack created" line unless the
// provider announced it already.
func (s *Service) markReady(ctx context.Context, r *storage.Environment, st StackStatus, created string, announced bool) error {
	now := s.now()
	// A template that renders a secret into an output gets it masked:
	// outputs are shown to every viewer.
	m := s.maskerOf(ctx, r)
	updates := storage.EnvironmentUpdate{ReadyAt: storage.At(now), Outputs: storage.Set(encodeMap(m.maskMap(st.Outputs))),
		Facts: storage.Set(encodeMap(m.maskMap(st.Facts))), UpdatedAt: storage.Set(now)}
	var also []func(tx *storage.Tx) error
	if created != "" {
		updates.Handle = storage.Set(created)
		if !announced {
			also = append(also, func(tx *storage.Tx) error {
				return s.addEvent(ctx, tx, r.ID, EventProvider, "", stackCreatedMessage(created), "")
			})
		}
	}
	msg := "Ready"
	if Kind(r.Kind) == KindDR {
		rto := now.Sub(r.CreatedAt)
		updates.RTOMillis = storage.Set(new(rto.Milliseconds()))
		msg = fmt.Sprintf("Recovered and verified: RTO %s", FormatDuration(rto))
		if taken, err := time.Parse(time.RFC3339, st.Facts[FactSnapshotTakenAt]); err == nil {
			rpo := max(r.CreatedAt.Sub(taken), 0)
			updates.RPOMillis = storage.Set(new(rpo.Milliseconds()))
			msg += fmt.Sprintf(", RPO %s", FormatDuration(rpo))
		}
	}
	ev, subject, text := NoticeReady, "Environment "+r.Name+" is ready", fmt.Sprintf("%s (%s %s) is ready; it expires at %s.",
		r.Name, r.TemplateName, r.Version, r.ExpiresAt.UTC().Format(time.RFC3339))
	if Kind(r.Kind) == KindDR {
		ev, subject, text = NoticeDrill, "DR drill "+r.Name+": "+msg, fmt.Sprintf("DR drill %s (%s %s): %s.", r.Name, r.TemplateName, r.Version, msg)
	}
	also = append(also, func(tx *storage.Tx) error { return s.notice(ctx, tx, s.envNotice(r, ev, subject, text)) })
	ok, err := s.transition(ctx, r, StatusReady, msg, System.Name, updates, also...)
	if err == nil && ok {
		s.metrics.ProvisionDone(r.Provider, now.Sub(r.CreatedAt), true)
	}
	if err == nil && !ok && created != "" {
		return s.saveHandle(ctx, r, created, announced) // no longer provisioning: keep the handle for the destroy
	}
	return err
}

// failLaunch records a failed launch with its reason and, in the same
// transaction, queues the clean-up of whatever the stack left behind: at
// once, or once the template's on_failure.keep_stack hold is over (but no
// later than the environment's expiry, when the reaper destroys it). The
// environment stays failed (see cleanup.go).
func (s *Service) failLaunch(ctx context.Context, r *storage.Environment, reason string) error {
	reason = oneLine(s.maskerOf(ctx, r).mask(reason))
	v, err := s.store.VersionByID(ctx, r.VersionID)
	if err != nil {
		return fmt.Errorf("load version: %w", err)
	}
	now := s.now()
	updates := storage.EnvironmentUpdate{FailureReason: storage.Set(reason), StatusReason: storage.Set(reason), UpdatedAt: storage.Set(now)}
	cleanup := "Cleaning up the failed launch's stack"
	opts := s.attemptOpts(s.cfg.DestroyAttempts)
	if hold := v.KeepFailedStack; hold > 0 {
		until := now.Add(hold)
		if until.After(r.ExpiresAt) {
			until = r.ExpiresAt.UTC()
		}
		updates.StackHeldUntil = storage.At(until)
		opts.ScheduledAt = until
		cleanup = fmt.Sprintf("Keeping the failed stack for debugging until %s (on_failure.keep_stack: %s), then cleaning it up",
			until.Format(time.RFC3339), FormatDuration(hold))
	}
	var failed bool
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.Transition(ctx, r.ID, statusStrings(From(StatusFailed)...), string(StatusFailed), updates)
		if err != nil || !ok {
			return err
		}
		failed = true
		if err := s.addEvent(ctx, tx, r.ID, EventStatus, StatusFailed, "Launch failed: "+reason, System.Name); err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, r.ID, EventAction, "", cleanup, System.Name); err != nil {
			return err
		}
		n := s.envNotice(r, NoticeFailed, "Launch of "+r.Name+" failed", fmt.Sprintf("The launch of %s (%s %s) failed: %s", r.Name, r.TemplateName, r.Version, reason))
		if Kind(r.Kind) == KindDR {
			n = s.envNotice(r, NoticeDrill, "DR drill "+r.Name+" failed", fmt.Sprintf("DR drill %s (%s %s) did not recover: %s", r.Name, r.TemplateName, r.Version, reason))
		}
		if err := s.notice(ctx, tx, n); err != nil {
			return err
		}
		return s.jobs.InsertTx(ctx, tx, cleanupArgs{EnvironmentID: r.ID}, opts)
	})
	if err == nil && failed {
		r.Status = string(StatusFailed)
		s.metrics.ProvisionDone(r.Provider, now.Sub(r.CreatedAt), false)
		s.log.Warn("launch failed", "environment", r.ID, "reason", reason)
		s.hub.notify(r.ID)
	}
	return err
}

// transition moves r to `to` (from any status the lifecycle allows) with an
// event, in one transaction. It reports false when r was no longer in a
// status that allows it. also runs in the transaction once the status has
// changed, before the status event.
func (s *Service) transition(ctx context.Context, r *storage.Environment, to Status, msg, actor string, updates storage.EnvironmentUpdate, also ...func(tx *storage.Tx) error) (bool, error) {
	if !updates.UpdatedAt.Set {
		updates.UpdatedAt = storage.Set(s.now())
	}
	var changed bool
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.Transition(ctx, r.ID, statusStrings(From(to)...), string(to), updates)
		if err != nil || !ok {
			return err
		}
		for _, f := range also {
			if err := f(tx); err != nil {
				return err
			}
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
