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

	"github.com/mayflyhq/mayfly/storage"
)

// A rollout rolls a template version out to the template's environments
// on other versions: they are chosen when it starts (by the filter), put
// in waves of WaveSize, and replaced with the version a wave at a time
// (a wave starts when the previous one finished), at most Concurrency at
// once. The first failure pauses the whole rollout with its reason;
// resume goes on, cancel skips what is left. The rollout's rows are the
// source of truth: one River job per rollout (unique by its id) looks at
// them, starts what may start, follows what runs and snoozes while
// anything runs, so a portal killed mid-rollout resumes it where it was,
// and with replicas each step happens once (the rows change only from the
// state they were read in).

// Rollout statuses and item states.
const (
	RolloutRunning   = "running"
	RolloutPaused    = "paused"
	RolloutDone      = "done"
	RolloutCancelled = "cancelled"

	ItemPending = "pending"
	ItemRunning = "running"
	ItemDone    = "done"
	ItemFailed  = "failed"
	ItemSkipped = "skipped"
)

// RolloutFilter narrows the environments a rollout selects; empty fields
// match all. Statuses default to ready.
type RolloutFilter struct {
	Kind     Kind     `json:"kind,omitempty"`
	Team     string   `json:"team,omitempty"`
	Labels   []string `json:"label,omitempty"`
	Statuses []Status `json:"status,omitempty"`
}

// RolloutRequest starts a rollout.
type RolloutRequest struct {
	Template    string
	Version     string
	Filter      RolloutFilter
	WaveSize    int // default 5
	Concurrency int // default 1, at most WaveSize
}

// Rollout is a rollout with its items.
type Rollout struct {
	ID          string
	Template    string
	Version     string
	Filter      RolloutFilter
	WaveSize    int
	Concurrency int
	Status      string
	Reason      string
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  *time.Time
	Items       []RolloutItem
}

// RolloutItem is one environment of a rollout.
type RolloutItem struct {
	EnvironmentID string
	FromVersion   string
	Wave          int
	State         string
	Reason        string
	StartedAt     *time.Time
	FinishedAt    *time.Time
}

const (
	maxWaveSize        = 100
	maxRolloutItems    = 5000
	rolloutPollDefault = time.Second
)

type rolloutArgs struct {
	RolloutID string `json:"rollout_id"`
}

func (rolloutArgs) Kind() string { return "rollout" }

// Not unique: River cannot make a job unique while it waits but not while
// it runs, and a resume just after the job paused the rollout (the job is
// still "running" for a moment: River marks it completed in batches) must
// queue another. Two looks that overlap are harmless: items change only
// from the state they were read in, and StartRolloutItem keeps the
// concurrency.
func (rolloutArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 25}
}

// stepResult is what a rollout step says of one environment.
type stepResult struct {
	State  string // ItemRunning (still going), ItemDone, ItemFailed, ItemSkipped
	Reason string
}

// rolloutRunner runs rollouts. step starts (claim given) or follows
// (claim nil) an item's replace; it is a field so the engine's tests can
// run it with a step of their own.
type rolloutRunner struct {
	s    *Service
	step func(ctx context.Context, r *storage.Rollout, item *storage.RolloutItem, claim itemClaim) (stepResult, error)
	poll time.Duration
}

// itemClaim moves a pending item to running, in the transaction that
// requests its replace, if the rollout's concurrency allows; a step given
// one calls it there and, when it says no, reports stepResult{} (nothing
// started).
type itemClaim func(tx *storage.Tx) (bool, error)

func newRolloutRunner(s *Service) *rolloutRunner {
	r := &rolloutRunner{s: s, poll: cmpOr(s.cfg.PollInterval, rolloutPollDefault)}
	r.step = r.replaceStep
	return r
}

// replaceStep starts the item's replace (Service.Replace, in one
// transaction with the claim) or follows the environment's latest replace
// until it switched or failed.
func (r *rolloutRunner) replaceStep(ctx context.Context, ro *storage.Rollout, item *storage.RolloutItem, claim itemClaim) (stepResult, error) {
	if claim != nil {
		return r.request(ctx, ro, item, claim)
	}
	env, err := r.s.Environment(ctx, item.EnvironmentID)
	if err != nil {
		return stepResult{}, err
	}
	rep := env.Replace
	if item.StartedAt != nil && env.Version != ro.Version && (rep == nil || rep.StartedAt.Before(item.StartedAt.Truncate(time.Second))) {
		// No replace since the item started: an item started before its
		// start and its replace were one transaction (decision 104), by a
		// portal that died between the two. Request it now (to the
		// second: the two times may be stored at other precisions).
		return r.request(ctx, ro, item, nil)
	}
	switch {
	case rep == nil || rep.ToVersion != ro.Version:
		return stepResult{State: ItemRunning}, nil
	case rep.State == "switched":
		return stepResult{State: ItemDone}, nil
	case rep.State == "failed":
		return stepResult{State: ItemFailed, Reason: cmpOr(rep.Reason, "the replace failed")}, nil
	}
	return stepResult{State: ItemRunning}, nil
}

// request asks for item's replace; with claim, only if the claim wins.
func (r *rolloutRunner) request(ctx context.Context, ro *storage.Rollout, item *storage.RolloutItem, claim itemClaim) (stepResult, error) {
	_, queued, err := r.s.replace(ctx, System, ReplaceRequest{ID: item.EnvironmentID, Version: ro.Version, Reason: "Rollout " + ro.ID}, claim)
	if err != nil {
		if ErrorCode(err) == EInternal {
			return stepResult{}, err
		}
		if claim == nil && ErrorCode(err) == EConflict {
			// Another look requested it a moment ago: follow that one.
			if env, rerr := r.s.Environment(ctx, item.EnvironmentID); rerr == nil && env.Replace != nil &&
				env.Replace.State == ReplaceBuilding && env.Replace.ToVersion == ro.Version {
				return stepResult{State: ItemRunning}, nil
			}
		}
		return stepResult{State: ItemFailed, Reason: ErrorMessage(err)}, nil
	}
	if claim != nil && !queued {
		return stepResult{}, nil
	}
	return stepResult{State: ItemRunning}, nil
}

type rolloutWorker struct {
	river.WorkerDefaults[rolloutArgs]
	r *rolloutRunner
}

func (w *rolloutWorker) Work(ctx context.Context, job *river.Job[rolloutArgs]) error {
	again, err := w.r.tick(ctx, job.Args.RolloutID)
	if err != nil {
		return err
	}
	if again {
		return river.JobSnooze(w.r.poll)
	}
	return nil
}

// tick moves a rollout on: items whose environment is gone are skipped,
// running ones followed, pending ones of the current wave started up to
// the concurrency. It reports whether anything still runs (the job then
// looks again after poll).
func (r *rolloutRunner) tick(ctx context.Context, id string) (bool, error) {
	s := r.s
	ro, err := s.store.Rollout(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	items, err := s.store.RolloutItems(ctx, id)
	if err != nil {
		return false, err
	}
	running := 0
	for i := range items {
		it := &items[i]
		if it.State != ItemRunning {
			continue
		}
		res, err := r.step(ctx, ro, it, nil)
		if err != nil {
			return false, err
		}
		if res.State == ItemRunning {
			running++
			continue
		}
		if err := r.finish(ctx, ro, it, res); err != nil {
			return false, err
		}
		if res.State == ItemFailed {
			ro.Status = RolloutPaused
		}
	}
	if ro.Status != RolloutRunning {
		return running > 0, nil // a paused rollout follows what runs, starts nothing
	}
	wave := -1
	for _, it := range items {
		if it.State == ItemPending || it.State == ItemRunning {
			wave = it.Wave
			break
		}
	}
	if wave < 0 {
		now := s.now()
		_, err := s.store.TransitionRollout(ctx, id, []string{RolloutRunning},
			storage.RolloutUpdate{Status: storage.Set(RolloutDone), UpdatedAt: storage.Set(now), FinishedAt: storage.At(now)})
		return false, err
	}
	for i := range items {
		it := &items[i]
		if it.Wave != wave || it.State != ItemPending || running >= ro.Concurrency {
			continue
		}
		env, err := s.store.Environment(ctx, it.EnvironmentID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return false, err
		}
		// These items were pending when this look read them; another look
		// may have started one since (and its replace may be what put the
		// environment on the version), so a skip applies only to an item
		// still pending.
		if err != nil || env.Status == string(StatusDestroyed) || env.Status == string(StatusDestroying) || env.DestroyRequestedAt != nil {
			if err := r.finishFrom(ctx, ro, it, stepResult{State: ItemSkipped, Reason: "the environment was destroyed"}, ItemPending); err != nil {
				return false, err
			}
			continue
		}
		if env.Version == ro.Version {
			if err := r.finishFrom(ctx, ro, it, stepResult{State: ItemSkipped, Reason: "already on " + ro.Version}, ItemPending); err != nil {
				return false, err
			}
			continue
		}
		now := s.now()
		claim := func(tx *storage.Tx) (bool, error) {
			return tx.StartRolloutItem(ctx, id, it.EnvironmentID, ro.Concurrency, now)
		}
		res, err := r.step(ctx, ro, it, claim)
		if err != nil {
			return false, err
		}
		if res.State == "" {
			continue // the concurrency is taken (another look started items)
		}
		if res.State == ItemRunning {
			it.State = ItemRunning
			running++
			continue
		}
		// Not started: a refusal fails the item only while it is still
		// pending (another look may have started it meanwhile, and the
		// refusal was its replace under way).
		if err := r.finishFrom(ctx, ro, it, res, ItemPending); err != nil {
			return false, err
		}
		if it.State == ItemFailed {
			return running > 0, nil
		}
	}
	// Something finished or was skipped: the wave (or the next one) may
	// go on at once.
	return true, nil
}

// finish records an item's end; a failure pauses the rollout with its
// reason (the rollout's first failure since it last ran).
func (r *rolloutRunner) finish(ctx context.Context, ro *storage.Rollout, it *storage.RolloutItem, res stepResult) error {
	return r.finishFrom(ctx, ro, it, res, ItemPending, ItemRunning)
}

// finishFrom is finish from the given item states only.
func (r *rolloutRunner) finishFrom(ctx context.Context, ro *storage.Rollout, it *storage.RolloutItem, res stepResult, from ...string) error {
	s := r.s
	now := s.now()
	return s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.TransitionRolloutItem(ctx, ro.ID, it.EnvironmentID, from,
			storage.RolloutItemUpdate{State: storage.Set(res.State), Reason: storage.Set(truncate(res.Reason, 1000)), FinishedAt: storage.At(now)})
		if err != nil || !ok {
			return err
		}
		it.State = res.State
		if res.State != ItemFailed {
			return nil
		}
		reason := fmt.Sprintf("%s failed: %s", it.EnvironmentID, truncate(res.Reason, 800))
		paused, err := tx.TransitionRollout(ctx, ro.ID, []string{RolloutRunning},
			storage.RolloutUpdate{Status: storage.Set(RolloutPaused), Reason: storage.Set(reason), UpdatedAt: storage.Set(now)})
		if err != nil || !paused {
			return err
		}
		entry := s.auditEntry(System, "rollout.pause", ro.ID, nil)
		entry.Detail = reason
		return tx.Audit(ctx, entry)
	})
}

// StartRollout selects the environments of a rollout and starts it.
func (s *Service) StartRollout(ctx context.Context, actor Actor, req RolloutRequest) (ro *Rollout, err error) {
	defer func() {
		target := req.Template + "@" + req.Version
		if ro != nil {
			target = ro.ID + " " + target
		}
		s.audit(ctx, actor, "rollout.start", target, err)
	}()
	if err := Authorize(actor, PermPublish); err != nil {
		return nil, err
	}
	var fields []FieldError
	req.WaveSize = cmpOr(req.WaveSize, 5)
	req.Concurrency = cmpOr(req.Concurrency, 1)
	if req.WaveSize < 1 || req.WaveSize > maxWaveSize {
		fields = append(fields, FieldError{Field: "wave_size", Message: fmt.Sprintf("must be from 1 to %d", maxWaveSize)})
	}
	if req.Concurrency < 1 || req.Concurrency > req.WaveSize {
		fields = append(fields, FieldError{Field: "concurrency", Message: "must be from 1 to the wave size"})
	}
	if req.Version == "" {
		fields = append(fields, FieldError{Field: "version", Message: "is required"})
	}
	if len(req.Filter.Statuses) == 0 {
		req.Filter.Statuses = []Status{StatusReady}
	}
	sf, ferr := storageFilter(Filter{Statuses: req.Filter.Statuses, Labels: req.Filter.Labels})
	if ferr != nil {
		for _, fe := range ErrorFields(ferr) {
			fields = append(fields, FieldError{Field: "filter." + fe.Field, Message: fe.Message})
		}
	}
	if req.Filter.Kind != "" && !slices.Contains([]Kind{KindReplica, KindDemo, KindDR}, req.Filter.Kind) {
		fields = append(fields, FieldError{Field: "filter.kind", Message: "must be replica, demo or dr"})
	}
	if msg := textProblem(req.Filter.Team); msg != "" || len(req.Filter.Team) > maxFilterText {
		fields = append(fields, FieldError{Field: "filter.team", Message: cmpOr(msg, "is too long")})
	}
	if len(fields) > 0 {
		return nil, Invalid("rollout is not valid", fields...)
	}
	tpl, err := s.Template(ctx, req.Template)
	if err != nil {
		return nil, err
	}
	if err := checkMember(actor, req.Template, tpl.OwnerTeam, "roll its versions out"); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(tpl.Versions, func(v Version) bool { return v.Spec.Version == req.Version })
	if i < 0 {
		return nil, Errorf(ENotFound, "template %s has no version %s", req.Template, req.Version)
	}
	if tpl.Versions[i].DeprecatedAt != nil {
		return nil, Invalid("rollout is not valid", FieldError{Field: "version", Message: req.Version + " is deprecated"})
	}
	sf.Template, sf.VersionNot, sf.Team, sf.Kind = req.Template, req.Version, req.Filter.Team, string(req.Filter.Kind)
	sf.Limit = maxRolloutItems + 1
	rows, err := s.store.Environments(ctx, sf)
	if err != nil {
		return nil, err
	}
	if len(rows) > maxRolloutItems {
		return nil, Invalid("rollout is not valid", FieldError{Field: "filter", Message: fmt.Sprintf("selects more than %d environments; narrow it", maxRolloutItems)})
	}
	slices.Reverse(rows) // oldest first
	now := s.now()
	filter, _ := json.Marshal(req.Filter) // plain fields always marshal
	row := &storage.Rollout{ID: "ro-" + strings.ToLower(randomID(8)), TemplateName: req.Template, Version: req.Version,
		Filter: string(filter), WaveSize: req.WaveSize, Concurrency: req.Concurrency, Status: RolloutRunning,
		CreatedBy: actor.Name, CreatedAt: now, UpdatedAt: now}
	items := make([]storage.RolloutItem, 0, len(rows))
	for n, e := range rows {
		items = append(items, storage.RolloutItem{RolloutID: row.ID, EnvironmentID: e.ID, FromVersion: e.Version, Wave: n / req.WaveSize, State: ItemPending})
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		if err := tx.CreateRollout(ctx, row, items); err != nil {
			return err
		}
		return s.jobs.InsertTx(ctx, tx, rolloutArgs{RolloutID: row.ID}, nil)
	})
	if err != nil {
		return nil, err
	}
	return s.GetRollout(ctx, row.ID)
}

// GetRollout loads a rollout with its items.
func (s *Service) GetRollout(ctx context.Context, id string) (*Rollout, error) {
	r, err := s.store.Rollout(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "rollout %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	items, err := s.store.RolloutItems(ctx, id)
	if err != nil {
		return nil, err
	}
	out := rolloutFromRow(r)
	for _, it := range items {
		out.Items = append(out.Items, RolloutItem{EnvironmentID: it.EnvironmentID, FromVersion: it.FromVersion, Wave: it.Wave,
			State: it.State, Reason: it.Reason, StartedAt: utcPtr(it.StartedAt), FinishedAt: utcPtr(it.FinishedAt)})
	}
	return out, nil
}

// Rollouts lists a template's rollouts, newest first (without items).
func (s *Service) Rollouts(ctx context.Context, template string) ([]*Rollout, error) {
	if _, err := s.store.Template(ctx, template); errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "template %q does not exist", template)
	}
	rows, err := s.store.Rollouts(ctx, template, 100)
	if err != nil {
		return nil, err
	}
	out := make([]*Rollout, 0, len(rows))
	for i := range rows {
		out = append(out, rolloutFromRow(&rows[i]))
	}
	return out, nil
}

func rolloutFromRow(r *storage.Rollout) *Rollout {
	out := &Rollout{ID: r.ID, Template: r.TemplateName, Version: r.Version, WaveSize: r.WaveSize, Concurrency: r.Concurrency,
		Status: r.Status, Reason: r.Reason, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		FinishedAt: utcPtr(r.FinishedAt)}
	_ = json.Unmarshal([]byte(r.Filter), &out.Filter) // written by StartRollout
	return out
}

// ResumeRollout goes on with a paused rollout (its failed items stay
// failed); CancelRollout stops one, skipping what has not started.
func (s *Service) ResumeRollout(ctx context.Context, actor Actor, template, id string) (*Rollout, error) {
	return s.changeRollout(ctx, actor, template, id, "rollout.resume", func(tx *storage.Tx, now time.Time) (bool, error) {
		ok, err := tx.TransitionRollout(ctx, id, []string{RolloutPaused},
			storage.RolloutUpdate{Status: storage.Set(RolloutRunning), Reason: storage.Set(""), UpdatedAt: storage.Set(now)})
		if err != nil || !ok {
			return ok, err
		}
		return true, s.jobs.InsertTx(ctx, tx, rolloutArgs{RolloutID: id}, nil)
	})
}

// CancelRollout: see ResumeRollout.
func (s *Service) CancelRollout(ctx context.Context, actor Actor, template, id string) (*Rollout, error) {
	return s.changeRollout(ctx, actor, template, id, "rollout.cancel", func(tx *storage.Tx, now time.Time) (bool, error) {
		ok, err := tx.TransitionRollout(ctx, id, []string{RolloutRunning, RolloutPaused},
			storage.RolloutUpdate{Status: storage.Set(RolloutCancelled), Reason: storage.Set("cancelled by " + actor.Name),
				UpdatedAt: storage.Set(now), FinishedAt: storage.At(now)})
		if err != nil || !ok {
			return ok, err
		}
		return true, tx.SkipPendingRolloutItems(ctx, id, "the rollout was cancelled", now)
	})
}

func (s *Service) changeRollout(ctx context.Context, actor Actor, template, id, action string, change func(tx *storage.Tx, now time.Time) (bool, error)) (ro *Rollout, err error) {
	defer func() { s.audit(ctx, actor, action, id, err) }()
	if err := Authorize(actor, PermPublish); err != nil {
		return nil, err
	}
	r, err := s.store.Rollout(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && r.TemplateName != template) {
		return nil, Errorf(ENotFound, "rollout %q of template %s does not exist", id, template)
	}
	if err != nil {
		return nil, err
	}
	t, err := s.store.Template(ctx, template)
	if err != nil {
		return nil, err
	}
	if err := checkMember(actor, template, t.OwnerTeam, "change its rollouts"); err != nil {
		return nil, err
	}
	var ok bool
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		var err error
		ok, err = change(tx, s.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, Errorf(EConflict, "rollout %s is %s", id, r.Status)
	}
	return s.GetRollout(ctx, id)
}
