package envs

import (
	"context"
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

func (w *orphanSweepWorker) Work(ctx context.Context, job *river.Job[orphanSweepArgs]) error {
	_, err := w.s.SweepCloudOrphans(ctx)
	return err
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
}

// SweepCloudOrphans looks at the stacks of every provider that can describe
// them (the local provider has its own sweep, see sweepOrphans): a stack
// whose environment is unknown or destroyed is an orphan, deleted once it
// has been one for the grace period unless in dry-run mode. A stack of a
// live environment long past its expiry is reported but left to the reaper,
// which owns that environment.
func (s *Service) SweepCloudOrphans(ctx context.Context) ([]SweptOrphan, error) {
	grace, dryRun := s.cfg.Orphans.Grace, s.cfg.Orphans.DryRun || s.cfg.Orphans == OrphanPolicy{}
	var out []SweptOrphan
	for _, name := range s.providerNames() {
		p := s.providers[name]
		d, ok := p.(StackDescriber)
		if !ok || name == "local" {
			continue
		}
		infos, err := d.StackInfos(ctx)
		if err != nil {
			return out, fmt.Errorf("envs: list %s stacks: %w", name, err)
		}
		if len(infos) == 0 {
			continue
		}
		var keys []string
		for _, in := range infos {
			keys = append(keys, in.Handle)
			if in.EnvironmentID != "" {
				keys = append(keys, in.EnvironmentID)
			}
		}
		rows, err := s.store.EnvironmentsByHandle(ctx, name, keys)
		if err != nil {
			return out, err
		}
		byKey := map[string]*storage.Environment{}
		for i := range rows {
			byKey[rows[i].ID] = &rows[i]
			if rows[i].Handle != "" {
				byKey[rows[i].Handle] = &rows[i]
			}
		}
		now := s.now()
		for _, in := range infos {
			if in.Status == "DELETE_IN_PROGRESS" {
				continue // already going
			}
			r := byKey[in.Handle]
			if r == nil {
				r = byKey[in.EnvironmentID]
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
			case r.Handle != "" && stackOfHandle(r.Handle) != stackOfHandle(in.Handle):
				o.Reason = "its environment " + r.Name + " has another stack"
			case Status(r.Status).Live() && now.Sub(r.ExpiresAt) > grace:
				o.Reason = "its environment " + r.Name + " expired " + FormatDuration(now.Sub(r.ExpiresAt)) + " ago; left to the reaper"
				out = append(out, o)
				continue
			default:
				continue // owned by a live (or dying) environment
			}
			age := now.Sub(o.Since)
			switch {
			case dryRun:
				s.log.Warn("orphaned stack (dry run: not deleting)", "provider", name, "stack", in.Handle, "reason", o.Reason, "orphaned_for", age.String())
			case age < grace:
				s.log.Info("orphaned stack within its grace period", "provider", name, "stack", in.Handle, "reason", o.Reason, "delete_in", (grace - age).String())
			default:
				s.log.Warn("deleting orphaned stack", "provider", name, "stack", in.Handle, "reason", o.Reason)
				if _, err := p.Destroy(ctx, in.Handle); err != nil {
					s.log.Error("delete orphaned stack", "stack", in.Handle, "err", err)
				} else {
					o.Deleted = true
				}
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// stackOfHandle is the stack part of a handle: providers may append details
// (aws: "|<role>") that a listing cannot always reproduce.
func stackOfHandle(h string) string {
	id, _, _ := strings.Cut(h, "|")
	return id
}
