package envs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mayflyhq/mayfly/storage"
)

// A deprecation may set a date after which the version's environments are
// replaced with the template's newest version or destroyed. A periodic job
// (on the leader, like the reaper's sweep) finds the deprecations that are
// due, claims each once (deprecation_done_at, whatever the number of
// replicas) and queues one job per environment, in the claim's
// transaction: a crash after the claim loses none of them.

// DeprecateRequest deprecates a version, optionally with a date.
type DeprecateRequest struct {
	Template, Version string
	Note              string
	// Date is "2027-01-15" (midnight UTC) or an RFC 3339 time; "" for
	// none. Action is what happens to the environments then.
	Date   string
	Action DeprecationAction
}

// DeprecateVersion marks a version deprecated (if it is not already) and
// sets its deprecation date and action when given; a date can also be
// set on a version deprecated before, until it is acted on.
func (s *Service) DeprecateVersion(ctx context.Context, actor Actor, req DeprecateRequest) (err error) {
	defer func() { s.audit(ctx, actor, "template.deprecate", req.Template+"@"+req.Version, err) }()
	if err := Authorize(actor, PermPublish); err != nil {
		return err
	}
	var fields []FieldError
	if len(req.Note) > maxDeprecationNote {
		fields = append(fields, FieldError{Field: "note", Message: fmt.Sprintf("must be at most %d bytes", maxDeprecationNote)})
	} else if msg := textProblem(req.Note); msg != "" {
		fields = append(fields, FieldError{Field: "note", Message: msg})
	}
	date, dateErr := parseDeprecationDate(req.Date, s.now())
	if dateErr != "" {
		fields = append(fields, FieldError{Field: "date", Message: dateErr})
	}
	switch req.Action {
	case "":
		if req.Date != "" {
			fields = append(fields, FieldError{Field: "action", Message: "is required with a date: replace or destroy"})
		}
	case DeprecationReplace, DeprecationDestroy:
		if req.Date == "" {
			fields = append(fields, FieldError{Field: "date", Message: "is required with an action"})
		}
	default:
		fields = append(fields, FieldError{Field: "action", Message: fmt.Sprintf("%q is not replace or destroy", truncate(string(req.Action), 40))})
	}
	if len(fields) > 0 {
		return Invalid("deprecation is not valid", fields...)
	}
	tpl, err := s.Template(ctx, req.Template)
	if err != nil {
		return err
	}
	i := -1
	for j, v := range tpl.Versions {
		if v.Spec.Version == req.Version {
			i = j
		}
	}
	if i < 0 {
		return Errorf(ENotFound, "template version %s@%s does not exist", req.Template, req.Version)
	}
	if err := checkMember(actor, req.Template, tpl.OwnerTeam, "deprecate its versions"); err != nil {
		return err
	}
	v := tpl.Versions[i]
	if req.Action == DeprecationReplace && newestAfter(tpl.Versions, i) == "" {
		return Invalid("deprecation is not valid", FieldError{Field: "action",
			Message: fmt.Sprintf("replace needs a version newer than %s that is not deprecated; publish it first", req.Version)})
	}
	if v.DeprecationDoneAt != nil && date != nil {
		return Errorf(EConflict, "the environments of %s@%s were acted on already for its deprecation date", req.Template, req.Version)
	}
	return s.store.InTx(ctx, func(tx *storage.Tx) error {
		if err := tx.DeprecateVersion(ctx, v.ID, s.now(), req.Note); err != nil {
			return err
		}
		if date == nil {
			return nil
		}
		return tx.SetDeprecationSchedule(ctx, v.ID, date, string(req.Action))
	})
}

// parseDeprecationDate reads a deprecation date, which must be in the
// future; the message says what is wrong ("" when nothing).
func parseDeprecationDate(s string, now time.Time) (*time.Time, string) {
	if s == "" {
		return nil, ""
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return nil, fmt.Sprintf("%q is not a date such as 2027-01-15 or a time such as 2027-01-15T09:00:00Z", truncate(s, 40))
		}
	}
	t = t.UTC().Truncate(time.Microsecond)
	if !t.After(now) {
		return nil, "must be in the future"
	}
	return &t, ""
}

type deprecationSweepArgs struct{}

func (deprecationSweepArgs) Kind() string { return "deprecation_sweep" }

func (deprecationSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// deprecationActArgs acts on one environment of a due deprecation.
type deprecationActArgs struct {
	EnvironmentID string `json:"environment_id"`
	VersionID     int64  `json:"version_id"`
	// Tries is how many tries were made before this job was queued (see
	// queueDueDeprecationActs); informative, and part of its uniqueness.
	Tries int `json:"tries,omitempty"`
}

func (deprecationActArgs) Kind() string { return "deprecation_act" }

// Unique while queued, not once done: the sweep queues the act's next try
// (see deprecation_acts.go).
func (deprecationActArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: uniqueWhileQueued}
}

// deprecationJobs is registered in newJobQueue: the workers and the
// sweep's periodic run.
func (s *Service) deprecationJobs(workers *river.Workers) *river.PeriodicJob {
	river.AddWorker(workers, &deprecationSweepWorker{s: s})
	river.AddWorker(workers, &deprecationActWorker{s: s})
	return river.NewPeriodicJob(river.PeriodicInterval(s.cfg.SweepInterval),
		func() (river.JobArgs, *river.InsertOpts) { return deprecationSweepArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

type deprecationSweepWorker struct {
	river.WorkerDefaults[deprecationSweepArgs]
	s *Service
}

func (w *deprecationSweepWorker) Work(ctx context.Context, job *river.Job[deprecationSweepArgs]) error {
	_, err := w.s.ActOnDueDeprecations(ctx)
	return err
}

// ActOnDueDeprecations claims the deprecations whose date passed and
// queues a job for each of their environments; it returns how many
// environments it queued so. It also queues the next tries that are due
// of the ones acted on before (see deprecation_acts.go). The periodic
// sweep runs it; tests call it.
func (s *Service) ActOnDueDeprecations(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.store.DueDeprecations(ctx, now, 50)
	if err != nil {
		return 0, err
	}
	queued := 0
	for i := range due {
		v := &due[i]
		var n int
		err := s.store.InTx(ctx, func(tx *storage.Tx) error {
			ok, err := tx.ClaimDeprecation(ctx, v.ID, now)
			if err != nil || !ok {
				return err
			}
			rows, err := tx.Environments(ctx, storage.EnvironmentFilter{VersionID: v.ID, Undestroyed: true})
			if err != nil {
				return err
			}
			if err := tx.CreateDeprecationActs(ctx, newDeprecationActs(v, rows, now)); err != nil {
				return err
			}
			params := make([]river.InsertManyParams, 0, len(rows))
			for _, r := range rows {
				params = append(params, river.InsertManyParams{Args: deprecationActArgs{EnvironmentID: r.ID, VersionID: v.ID}})
			}
			if err := s.jobs.InsertManyTx(ctx, tx, params); err != nil {
				return err
			}
			n = len(rows)
			entry := s.auditEntry(System, "template.deprecation_due", v.TemplateName+"@"+v.Version, nil)
			entry.Detail = fmt.Sprintf("%s %d environments: the deprecation date %s passed", v.DeprecationAction, n, v.DeprecationDate.UTC().Format(time.RFC3339))
			return tx.Audit(ctx, entry)
		})
		if err != nil {
			return queued, err
		}
		queued += n
		if n > 0 {
			s.log.Info("deprecation date passed", "template", v.TemplateName, "version", v.Version, "action", v.DeprecationAction, "environments", n)
		}
	}
	return queued, s.queueDueDeprecationActs(ctx, now)
}

type deprecationActWorker struct {
	river.WorkerDefaults[deprecationActArgs]
	s *Service
}

func (w *deprecationActWorker) Work(ctx context.Context, job *river.Job[deprecationActArgs]) error {
	return w.s.actOnDeprecated(ctx, job.Args.EnvironmentID, job.Args.VersionID)
}
