package envs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/storage"
)

// The provision job: a pending environment's stack created, step by step,
// until it is ready or its launch has failed.

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
