package envs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mayflyhq/mayfly/storage"
)

// OrphanPolicy is what the cloud orphan sweep may do. A cloud account is
// shared with other things (and maybe other Mayfly installations), so the
// sweep only ever sees stacks its provider lists as this instance's, and
// deletes one only after it has had no live environment for Grace.
type OrphanPolicy struct {
	// Grace is how long a stack may stay without a live environment before
	// it is deleted (0: at once). A Service configured with no policy at
	// all only reports, so nothing is deleted by default.
	Grace time.Duration
	// DryRun reports orphans (log, admin view) and deletes nothing.
	DryRun bool
	// Interval is how often stacks are listed (default 5m).
	Interval time.Duration
}

type orphanSweepArgs struct{}

func (orphanSweepArgs) Kind() string { return "orphan_sweep" }

// A sweep is unique while queued: a slow listing must not pile up runs.
func (orphanSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

type orphanSweepWorker struct {
	river.WorkerDefaults[orphanSweepArgs]
	s *Service
}

// Work never fails the job: what could not be listed or judged is logged
// (and shown on the admin page, which lists afresh), and the next periodic
// run is the retry; failing would only re-list every other scope sooner.
func (w *orphanSweepWorker) Work(ctx context.Context, job *river.Job[orphanSweepArgs]) error {
	if _, err := w.s.SweepCloudOrphans(ctx); err != nil {
		w.s.log.Warn("orphan sweep incomplete", "err", err)
	}
	return nil
}

// orphanSweepJob is registered in newRiver: the worker and its periodic run.
func (s *Service) orphanSweepJob(workers *river.Workers) *river.PeriodicJob {
	river.AddWorker(workers, &orphanSweepWorker{s: s})
	return river.NewPeriodicJob(river.PeriodicInterval(cmpOr(s.cfg.Orphans.Interval, 5*time.Minute)),
		func() (river.JobArgs, *river.InsertOpts) { return orphanSweepArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// SweptOrphan is one stack the sweep judged an orphan.
type SweptOrphan struct {
	Orphan
	Since   time.Time // since when it has had no live environment
	Deleted bool      // deletion was started on this run
	// LeftToReaper is a stack of a live environment long past its expiry:
	// reported, never deleted by the sweep (the reaper owns it).
	LeftToReaper bool
}

// SweepCloudOrphans looks at the stacks of every provider that can describe
// them (the local provider has its own sweep, see sweepOrphans), in every
// region and account its templates and recent environments use: a stack
// whose environment is unknown or destroyed is an orphan, deleted once it
// has been one for the grace period unless in dry-run mode. A stack of a
// live environment long past its expiry is reported but left to the reaper,
// which owns that environment. A scope that cannot be listed stops nothing:
// the rest is swept and the error (one line per failed scope) returned.
func (s *Service) SweepCloudOrphans(ctx context.Context) ([]SweptOrphan, error) {
	grace, dryRun := s.cfg.Orphans.Grace, s.cfg.Orphans.DryRun || s.cfg.Orphans == OrphanPolicy{}
	var out []SweptOrphan
	var errs []error
	for _, name := range s.providerNames() {
		p := s.providers[name]
		d, ok := p.(StackDescriber)
		if !ok || name == "local" {
			continue
		}
		found, err := s.cloudOrphans(ctx, name, d, grace)
		if err != nil {
			errs = append(errs, err)
		}
		now := s.now()
		for _, o := range found {
			age := now.Sub(o.Since)
			switch {
			case o.LeftToReaper:
			case dryRun:
				s.log.Warn("orphaned stack (dry run: not deleting)", "provider", name, "stack", o.Handle, "reason", o.Reason, "orphaned_for", age.String())
			case age < grace:
				s.log.Info("orphaned stack within its grace period", "provider", name, "stack", o.Handle, "reason", o.Reason, "delete_in", (grace - age).String())
			default:
				s.log.Warn("deleting orphaned stack", "provider", name, "stack", o.Handle, "reason", o.Reason)
				if _, err := s.callDestroy(ctx, p, o.Handle); err != nil {
					s.log.Error("delete orphaned stack", "stack", o.Handle, "err", err)
				} else {
					o.Deleted = true
				}
			}
			out = append(out, o)
		}
	}
	return out, errors.Join(errs...)
}

// recentHandles is how long after an environment's destruction the region
// and account of its stack are still searched for orphans: they matter
// when the default region or a template's role changed since, and a stack
// outliving its environment is found within days.
const recentHandles = 30 * 24 * time.Hour

// cloudOrphans lists a cloud provider's stacks wherever its templates and
// recent environments put them and judges each. What could be listed is
// judged even when some scope failed; the error then names the failures.
func (s *Service) cloudOrphans(ctx context.Context, name string, d StackDescriber, grace time.Duration) ([]SweptOrphan, error) {
	// A query that fails only narrows the listing (the default scope is
	// always listed): an orphan elsewhere waits for the next sweep, and
	// nothing is judged wrongly.
	var where StackScopes
	bodies, bodiesErr := s.store.StackBodies(ctx, name)
	for _, b := range bodies {
		where.Stacks = append(where.Stacks, json.RawMessage(b))
	}
	handles, handlesErr := s.store.RecentHandles(ctx, name, s.now().Add(-recentHandles))
	where.Handles = handles
	infos, listErr := callProvider(ctx, s, s.providers[name], "StackInfos", func(ctx context.Context) ([]StackInfo, error) {
		return d.StackInfos(ctx, where)
	})
	if listErr = errors.Join(bodiesErr, handlesErr, listErr); listErr != nil {
		listErr = fmt.Errorf("envs: list %s stacks: %w", name, listErr)
	}
	if len(infos) == 0 {
		return nil, listErr
	}
	var keys []string
	for _, in := range infos {
		keys = append(keys, in.Handle)
		if in.EnvironmentID != "" {
			keys = append(keys, in.EnvironmentID)
		}
		if in.StackID != "" {
			keys = append(keys, in.StackID)
		}
	}
	rows, err := s.store.EnvironmentsByHandle(ctx, name, keys)
	if err != nil {
		return nil, errors.Join(listErr, err)
	}
	// The stacks table knows every stack of a replaced environment: by
	// handle once recorded, by its id (a tag) while a candidate is built.
	stackRows, err := s.store.StacksByHandle(ctx, name, keys)
	if err != nil {
		return nil, errors.Join(listErr, err)
	}
	stackBy := map[string]*storage.Stack{}
	for i := range stackRows {
		stackBy[stackRows[i].ID] = &stackRows[i]
		if h := stackRows[i].Handle; h != "" {
			stackBy[stackOfHandle(h)] = &stackRows[i]
		}
	}
	byKey := map[string]*storage.Environment{}
	for i := range rows {
		byKey[rows[i].ID] = &rows[i]
		if rows[i].Handle != "" {
			byKey[rows[i].Handle] = &rows[i]
		}
	}
	now := s.now()
	var out []SweptOrphan
	for _, in := range infos {
		if in.Status == "DELETE_IN_PROGRESS" {
			continue // already going
		}
		r := byKey[in.Handle]
		if r == nil {
			r = byKey[in.EnvironmentID]
		}
		row := stackBy[stackOfHandle(in.Handle)]
		if row == nil && in.StackID != "" {
			row = stackBy[in.StackID]
		}
		if row != nil && r == nil {
			r = byKey[row.EnvironmentID]
		}
		o := SweptOrphan{Orphan: Orphan{Provider: name, Handle: in.Handle}, Since: in.CreatedAt}
		switch {
		case r == nil:
			o.Reason = fmt.Sprintf("no environment %s exists", valueOr(in.EnvironmentID, "(untagged)"))
		case Status(r.Status) == StatusDestroyed:
			o.Reason = "its environment " + r.Name + " is destroyed"
			if r.DestroyedAt != nil {
				o.Since = *r.DestroyedAt
			}
		case row != nil && stackOut(row, now):
			// Out of service and not kept for a rollback: its own destroy
			// job should have removed it; the grace covers that job.
			o.Reason = fmt.Sprintf("its environment %s no longer uses it (stack %s, %s)", r.Name, row.ID, row.Status)
			o.Since = row.UpdatedAt
			if row.StandbyUntil != nil && StackPhase(row.Status) == StackStandby {
				o.Since = *row.StandbyUntil
			}
		case row == nil && r.Handle != "" && stackOfHandle(r.Handle) != stackOfHandle(in.Handle):
			o.Reason = "its environment " + r.Name + " has another stack"
		case Status(r.Status).Live() && now.Sub(r.ExpiresAt) > grace:
			o.Reason = "its environment " + r.Name + " expired " + FormatDuration(now.Sub(r.ExpiresAt)) + " ago; left to the reaper"
			o.LeftToReaper = true
		default:
			continue // owned by a live (or dying) environment
		}
		out = append(out, o)
	}
	return out, listErr
}

// stackOfHandle is the stack part of a handle: providers may append details
// (aws: "|<role>") that a listing cannot always reproduce.
func stackOfHandle(h string) string {
	id, _, _ := strings.Cut(h, "|")
	return id
}

// stackOut reports whether a stack of a live environment is neither in
// service, nor a candidate being built, nor on standby within its grace.
func stackOut(st *storage.Stack, now time.Time) bool {
	switch StackPhase(st.Status) {
	case StackInService, StackBuilding:
		return false
	case StackStandby:
		return st.StandbyUntil != nil && !now.Before(*st.StandbyUntil)
	}
	return true // destroying, failed, destroyed
}
