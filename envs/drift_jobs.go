package envs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mayflyhq/mayfly/storage"
)

// Drift checks run as jobs on a queue of their own, so that however many
// are due they take at most Config.DriftWorkers workers (an aws check
// waits for CloudFormation's detection) and never delay launches and
// destroys. The scheduler is a periodic job on the leader, like the
// reaper's sweep: it gives each ready stack its first due time and queues
// the checks that are due. A check in progress is never started twice:
// the environment's drift row says a check is requested (requested_at)
// until one records its result, and a request meanwhile queues nothing
// but counts itself (requests), so the check running sees it when it
// records and checks once more (River's unique jobs cannot say this: a job
// stays "running" for a moment after it recorded, and a request then would
// be dropped).

const driftQueue = "drift"

type driftCheckArgs struct {
	EnvironmentID string `json:"environment_id"`
}

func (driftCheckArgs) Kind() string { return "drift_check" }

// A check is retried only for errors that are not the provider's (the
// database); a provider's failure is recorded and the next scheduled
// check is the retry.
func (driftCheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: driftQueue, MaxAttempts: 5}
}

type driftSweepArgs struct{}

func (driftSweepArgs) Kind() string { return "drift_sweep" }

func (driftSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// driftJobs is registered in newJobQueue: the check worker, the
// scheduler's worker and its periodic run, and the queue's bound.
func (s *Service) driftJobs(workers *river.Workers) (*river.PeriodicJob, river.QueueConfig) {
	river.AddWorker(workers, &driftCheckWorker{s: s})
	river.AddWorker(workers, &driftSweepWorker{s: s})
	return river.NewPeriodicJob(river.PeriodicInterval(s.cfg.DriftSweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return driftSweepArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		river.QueueConfig{MaxWorkers: s.cfg.DriftWorkers}
}

// Bounds of one scheduler run: how many new stacks it gives a due time,
// and how many due checks it queues (the queue's workers bound how many
// run at once; the rest wait for the next run).
const (
	driftSeedBatch = 500
	driftDueBatch  = 200
)

// staleDriftRequest is how long a requested check may stay unanswered
// before the scheduler queues it again (its job was lost).
func (s *Service) staleDriftRequest() time.Duration {
	return max(time.Hour, 2*s.cfg.RescueAfter)
}

type driftSweepWorker struct {
	river.WorkerDefaults[driftSweepArgs]
	s *Service
}

func (w *driftSweepWorker) Work(ctx context.Context, job *river.Job[driftSweepArgs]) error {
	_, err := w.s.ScheduleDriftChecks(ctx)
	return err
}

// ScheduleDriftChecks is one run of the drift scheduler: ready stacks not
// seen before get their first due time (ready plus the version's
// interval), and the checks due now are queued. It returns how many it
// queued.
func (s *Service) ScheduleDriftChecks(ctx context.Context) (int, error) {
	seeds, err := s.store.DriftSeeds(ctx, driftSeedBatch)
	if err != nil {
		return 0, err
	}
	now := s.now()
	if len(seeds) > 0 {
		// One transaction for the batch: one commit, not hundreds, on
		// SQLite's one connection.
		err := s.store.InTx(ctx, func(tx *storage.Tx) error {
			for _, sd := range seeds {
				// A stack whose provider cannot check it is given a row
				// all the same, never due, so the scheduler does not look
				// at it again.
				row := &storage.EnvironmentDrift{EnvironmentID: sd.ID, Handle: sd.Handle}
				if sd.DriftInterval > 0 && s.detector(sd.Provider) != nil {
					due := cmpOr(ptrTime(sd.ReadyAt), now).Add(sd.DriftInterval)
					row.DueAt = &due
				}
				if err := tx.SaveDrift(ctx, row); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	due, err := s.store.DueDrift(ctx, now, now.Add(-s.staleDriftRequest()), driftDueBatch)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	// In id order: each takes its environment's row lock (PostgreSQL), as
	// other batches do, so two never wait for each other.
	slices.Sort(due)
	queued := 0
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		queued = 0
		for _, id := range due {
			r, err := tx.Environment(ctx, id)
			if err != nil {
				return err
			}
			if Status(r.Status) != StatusReady {
				continue // destroyed since it was found due
			}
			if err := s.queueDriftCheck(ctx, tx, r, driftScheduled); err != nil {
				return err
			}
			queued++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return queued, nil
}

// driftScheduled is who asked for a scheduled check.
const driftScheduled = "schedule"

func ptrTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// detector is how a provider checks stacks for drift: its DriftDetector,
// when it has one and is on.
func (s *Service) detector(provider string) DriftDetector {
	if s.off[provider] {
		return nil
	}
	d, _ := s.providers[provider].(DriftDetector)
	return d
}

// RequestDriftCheck queues a check of a ready environment's stack now; a
// check already queued or running is not started again (its result is
// this request's). The check's result lands on the environment.
func (s *Service) RequestDriftCheck(ctx context.Context, actor Actor, id string) (env *Environment, err error) {
	defer func() { s.audit(ctx, actor, "environment.drift_check", id, err) }()
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "environment %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	if err := CanActOn(actor, environmentFromRow(r, nil)); err != nil {
		return nil, err
	}
	switch {
	case s.off[r.Provider]:
		return nil, Errorf(EConflict, "the stack of %s cannot be checked for drift: %s", r.Name, s.providerUnavailable(r.Provider))
	case s.detector(r.Provider) == nil:
		return nil, Errorf(EConflict, "the %s provider cannot check stacks for drift", r.Provider)
	case Status(r.Status) != StatusReady || r.Handle == "":
		return nil, Errorf(EConflict, "environment %s is %s: only the stack of a ready environment is checked for drift", r.Name, r.Status)
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		if err := s.queueDriftCheck(ctx, tx, r, actor.Name); err != nil {
			return err
		}
		return s.addEvent(ctx, tx, id, EventAction, "", "Drift check requested by "+actor.Name, actor.Name)
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(id)
	return s.Environment(ctx, id)
}

// queueDriftCheck asks, in tx, for a check of r's stack: a job is queued
// unless a check is already queued or running, which then serves this
// request too (see the top of this file). A request older than
// staleDriftRequest is taken for a lost job's, and queued again.
func (s *Service) queueDriftCheck(ctx context.Context, tx *storage.Tx, r *storage.Environment, by string) error {
	now := s.now()
	prev, err := tx.LockDrift(ctx, r.ID)
	if errors.Is(err, storage.ErrNotFound) {
		prev, err = nil, nil
	}
	if err != nil {
		return err
	}
	pending := prev != nil && prev.RequestedAt != nil && prev.RequestedAt.After(now.Add(-s.staleDriftRequest()))
	if err := tx.RequestDrift(ctx, r.ID, r.Handle, now, by, pending); err != nil || pending {
		return err
	}
	return s.jobs.InsertTx(ctx, tx, driftCheckArgs{EnvironmentID: r.ID}, nil)
}

type driftCheckWorker struct {
	river.WorkerDefaults[driftCheckArgs]
	s *Service
}

func (w *driftCheckWorker) NextRetry(job *river.Job[driftCheckArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

// Work checks one environment's stack. It holds no lock on the
// environment while the provider checks (a destroy must not wait for
// CloudFormation's detection); the result is recorded only if the
// environment is still ready with the same stack.
func (w *driftCheckWorker) Work(ctx context.Context, job *river.Job[driftCheckArgs]) error {
	s := w.s
	id := job.Args.EnvironmentID
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("environment %s does not exist", id))
	}
	if err != nil {
		return err
	}
	d := s.detector(r.Provider)
	if Status(r.Status) != StatusReady || r.Handle == "" || d == nil {
		return s.store.ClearDriftRequest(ctx, id) // never on a stack that is not ready
	}
	v, err := s.store.VersionByID(ctx, r.VersionID)
	if err != nil {
		return fmt.Errorf("envs: drift check of %s: load version: %w", id, err)
	}
	// The requests this check answers: one made while it runs makes it
	// check again.
	requests := 0
	if d, err := s.store.Drift(ctx, id); err == nil {
		requests = d.Requests
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	m := s.masker(r)
	ctx = withMasker(ctx, m)
	p := s.providers[r.Provider]
	rep, err := callProvider(ctx, s, p, "DetectDrift", func(ctx context.Context) (DriftReport, error) {
		return d.DetectDrift(ctx, DriftRequest{Handle: r.Handle, Stack: json.RawMessage(v.Stack)})
	})
	if err != nil && !isFailedAttempt(err) {
		return err // stopping: handed back
	}
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	return s.recordDrift(rctx, r, v, requests, rep, err)
}

// recordDrift records a check's outcome (checkErr: the provider could not
// judge the stack) on the environment, with a timeline line when the
// stack drifted or came back in sync, and the version's remedy for a
// stack that just drifted. requests is the drift row's request count when
// the check began: if another request came since, the request stays and
// the job runs again (a snooze).
func (s *Service) recordDrift(ctx context.Context, r *storage.Environment, v *storage.TemplateVersion, requests int, rep DriftReport, checkErr error) error {
	m := s.masker(r)
	now := s.now()
	var items []DriftItem
	if checkErr == nil {
		items = boundDrift(rep.Items, m)
	}
	result := "failed"
	var msg string
	var recorded, again, replace bool
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		msg, recorded, again, replace = "", false, false, false
		prev, err := tx.LockDrift(ctx, r.ID)
		if errors.Is(err, storage.ErrNotFound) {
			prev, err = &storage.EnvironmentDrift{EnvironmentID: r.ID}, nil
		}
		if err != nil {
			return err
		}
		cur, err := tx.Environment(ctx, r.ID)
		if err != nil {
			return err
		}
		if Status(cur.Status) != StatusReady || cur.Handle != r.Handle {
			// Destroyed or replaced meanwhile: the result is about a stack
			// that is no longer in service.
			return tx.ClearDriftRequest(ctx, r.ID)
		}
		row := *prev
		if prev.Handle != r.Handle { // nothing known of this stack
			row = storage.EnvironmentDrift{EnvironmentID: r.ID, RequestedAt: prev.RequestedAt,
				RequestedBy: prev.RequestedBy, Requests: prev.Requests}
		}
		row.Handle = r.Handle
		if again = prev.Requests != requests; !again {
			row.RequestedAt, row.RequestedBy = nil, ""
		}
		next := func(after time.Duration) {
			row.DueAt = nil
			if v.DriftInterval > 0 {
				due := now.Add(after)
				row.DueAt = &due
			}
		}
		if checkErr != nil {
			// The last result stands; the failure is shown beside it, and
			// the check is tried again within the hour (or its interval).
			row.Error, row.ErrorAt = oneLine(m.mask(checkErr.Error())), &now
			next(min(v.DriftInterval, time.Hour))
		} else {
			b, _ := json.Marshal(items) // plain strings: always marshals
			row.Items, row.Error, row.ErrorAt, row.CheckedAt = string(b), "", nil, &now
			state, was := DriftInSync, DriftState(row.State)
			if len(items) > 0 {
				state = DriftDrifted
			}
			result = string(state)
			switch {
			case state == DriftDrifted && was != DriftDrifted:
				row.DriftedSince = &now
				msg = driftMessage(r.Version, items)
			case state == DriftInSync && was == DriftDrifted:
				msg = "Back in sync: the stack is what " + r.Version + " declares again"
			}
			if state == DriftInSync {
				row.DriftedSince = nil
			}
			row.State = string(state)
			next(v.DriftInterval)
		}
		if err := tx.SaveDrift(ctx, &row); err != nil {
			return err
		}
		recorded = true
		if msg == "" {
			return nil
		}
		if err := s.addEvent(ctx, tx, r.ID, EventProvider, "", msg, ""); err != nil {
			return err
		}
		if row.State == string(DriftDrifted) {
			if err := s.notice(ctx, tx, s.envNotice(cur, NoticeDrift, "Environment "+cur.Name+" drifted", msg)); err != nil {
				return err
			}
		}
		if row.State != string(DriftDrifted) || DriftRemedy(v.DriftRemedy) != RemedyReplace {
			return nil
		}
		replace = true
		err = s.queueDriftReplace(ctx, tx, cur, msg)
		var de *Error
		if errors.As(err, &de) {
			return s.addEvent(ctx, tx, r.ID, EventProvider, "",
				"The template's drift remedy is replace, which could not be queued: "+de.Message, "")
		}
		return err
	})
	if err != nil || !recorded {
		return err
	}
	if dm, ok := s.metrics.(DriftMetrics); ok {
		dm.DriftChecked(r.Provider, result)
	}
	switch {
	case checkErr != nil:
		s.log.Warn("drift check failed", "environment", r.ID, "reason", oneLine(m.mask(checkErr.Error())))
	case msg != "":
		s.log.Info("drift check", "environment", r.ID, "result", result, "replace", replace)
	}
	s.hub.notify(r.ID)
	if again {
		return river.JobSnooze(0) // asked for again while it ran: once more
	}
	return nil
}

// DriftMetrics receives the outcome of each drift check (in_sync, drifted
// or failed); the HTTP layer's Metrics has it.
type DriftMetrics interface {
	DriftChecked(provider, result string)
}

// boundDrift masks a check's items and keeps them within the record's
// bounds.
func boundDrift(items []DriftItem, m *masker) []DriftItem {
	out := make([]DriftItem, 0, min(len(items), maxDriftItems))
	for i, it := range items {
		if i == maxDriftItems-1 && len(items) > maxDriftItems {
			out = append(out, DriftItem{Resource: fmt.Sprintf("%d more", len(items)-i), Status: DriftModified,
				Detail: fmt.Sprintf("not listed: a check keeps the first %d", maxDriftItems-1)})
			break
		}
		it.Resource = truncate(m.mask(it.Resource), maxDriftValue)
		it.Type = truncate(m.mask(it.Type), maxDriftValue)
		it.Status = truncate(it.Status, 40)
		it.Detail = truncate(strings.Join(strings.Fields(m.mask(it.Detail)), " "), maxDriftValue) // one line
		diffs := it.Differences
		it.Differences = nil
		for j, d := range diffs {
			if j == maxDriftDifferences {
				break
			}
			it.Differences = append(it.Differences, DriftDifference{Path: truncate(m.mask(d.Path), maxDriftValue),
				Expected: truncate(m.mask(d.Expected), maxDriftValue), Actual: truncate(m.mask(d.Actual), maxDriftValue),
				Kind: truncate(d.Kind, 40)})
		}
		out = append(out, it)
	}
	return out
}

// driftMessage is the timeline line of a stack that drifted: how many
// things and the first few.
func driftMessage(version string, items []DriftItem) string {
	var parts []string
	for i, it := range items {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(items)-3))
			break
		}
		parts = append(parts, driftItemLine(it))
	}
	noun := "difference"
	if len(items) != 1 {
		noun += "s"
	}
	return fmt.Sprintf("Drift detected: %d %s from what %s declares: %s", len(items), noun, version, strings.Join(parts, "; "))
}

// driftItemLine is one item in a line: "web (service) DELETED: its process
// is gone".
func driftItemLine(it DriftItem) string {
	s := it.Resource
	if it.Type != "" {
		s += " (" + it.Type + ")"
	}
	s += " " + it.Status
	if it.Detail != "" {
		s += ": " + it.Detail
	}
	return s
}

// attachDrift loads what the drift checks say of the environments that
// were ever ready, in one query.
func (s *Service) attachDrift(ctx context.Context, list []*Environment) error {
	byID := map[string]*Environment{}
	var ids []string
	for _, e := range list {
		if e.ReadyAt != nil {
			byID[e.ID] = e
			ids = append(ids, e.ID)
		}
	}
	rows, err := s.store.DriftStates(ctx, ids)
	if err != nil {
		return err
	}
	for i := range rows {
		if e := byID[rows[i].EnvironmentID]; e != nil {
			e.Drift = s.driftOf(e, &rows[i])
		}
	}
	return nil
}

// driftOf is the Drift of an environment from its drift row, which says
// nothing when it is about another stack (or there is none).
func (s *Service) driftOf(e *Environment, row *storage.DriftState) *Drift {
	d := &Drift{Supported: s.detector(e.Provider) != nil, Interval: row.PolicyInterval,
		Remedy: cmpOr(DriftRemedy(row.PolicyRemedy), RemedyManual)}
	if row.Handle == e.Handle && e.Handle != "" {
		d.State = DriftState(row.State)
		d.CheckedAt, d.DriftedSince = utcPtr(row.CheckedAt), utcPtr(row.DriftedSince)
		d.Error, d.ErrorAt = row.Error, utcPtr(row.ErrorAt)
		d.RequestedAt, d.RequestedBy = utcPtr(row.RequestedAt), row.RequestedBy
		d.Checking = row.RequestedAt != nil
		d.NextCheck = utcPtr(row.DueAt)
		_ = json.Unmarshal([]byte(row.Items), &d.Items) // written by recordDrift
	} else if e.ReadyAt != nil && d.Interval > 0 {
		due := e.ReadyAt.Add(d.Interval) // the scheduler has not seen this stack yet
		d.NextCheck = &due
	}
	if e.Status != StatusReady {
		d.NextCheck, d.Checking = nil, false
	}
	return d
}

// DriftedCounts is, per provider, how many ready environments' stacks
// drifted at their last check (the gauge /metrics shows).
func (s *Service) DriftedCounts(ctx context.Context) (map[string]int, error) {
	return s.store.CountDrifted(ctx)
}

// DriftProviders lists the providers that check stacks for drift, sorted.
func (s *Service) DriftProviders() []string {
	var out []string
	for name := range s.providers {
		if s.detector(name) != nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
