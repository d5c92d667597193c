package envs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/storage"
)

// Replacing an environment's stack with a fresh one built from another
// version (or the same one: the remedy of drift), never in place: the
// candidate is built beside the stack in service, checked healthy (and
// verified, for DR), then, in one transaction, the environment's outputs,
// version and parameters become the candidate's and the old stack goes on
// standby for the rollback grace (or is destroyed at once). A candidate
// that fails is destroyed and the stack in service is left untouched. Each
// step is a job (replaceArgs, stackDestroyArgs) whose state is in the
// stacks table, so a crash anywhere resumes it: one stack ends in service,
// the others destroyed.

// ReplaceRequest asks for an environment's stack to be rebuilt from Version
// of the same template (the same version for a drift remedy).
type ReplaceRequest struct {
	ID      string            // the environment
	Version string            // target version; "" = the environment's own version
	Params  map[string]string // values for parameters the target version adds without a default
	Reason  string            // why, for the timeline and audit: "Rollout ro-123", "Drift remedy", ...
}

// Replacement is an environment's latest replace attempt (a rollback is
// one too).
type Replacement struct {
	FromVersion, ToVersion string
	State                  string // "building", "switched" (done), "failed"
	Reason                 string // the failure reason when failed
	// Why is what the request said (ReplaceRequest.Reason), RequestedBy
	// who asked.
	Why, RequestedBy      string
	StartedAt, FinishedAt time.Time
}

// Replacement states.
const (
	ReplaceBuilding = "building"
	ReplaceSwitched = "switched"
	ReplaceFailed   = "failed"
)

// StackPhase is where one stack of an environment is.
type StackPhase string

const (
	StackBuilding   StackPhase = "building"
	StackInService  StackPhase = "in_service"
	StackStandby    StackPhase = "standby"
	StackDestroying StackPhase = "destroying"
	StackDestroyed  StackPhase = "destroyed"
	StackFailedOut  StackPhase = "failed" // a candidate that failed, being destroyed
)

// StackRecord is one stack of an environment, for its page and the API.
type StackRecord struct {
	ID           string
	Version      string
	Status       StackPhase
	Reason       string
	CreatedAt    time.Time
	ReadyAt      *time.Time
	SwitchedAt   *time.Time
	StandbyUntil *time.Time
	DestroyedAt  *time.Time
}

// stackIDOf is the id of the stack in service of r (its first stack's is
// the environment's own).
func stackIDOf(r *storage.Environment) string { return cmpOr(r.StackID, r.ID) }

type replaceArgs struct {
	EnvironmentID string `json:"environment_id"`
	StackID       string `json:"stack_id"`
}

func (replaceArgs) Kind() string { return "replace" }

func (replaceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: uniqueWhileQueued}
}

type stackDestroyArgs struct {
	EnvironmentID string `json:"environment_id"`
	StackID       string `json:"stack_id"`
}

func (stackDestroyArgs) Kind() string { return "stack_destroy" }

func (stackDestroyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: uniqueWhileQueued}
}

// Replace queues the replace and returns at once (202 in the API).
func (s *Service) Replace(ctx context.Context, actor Actor, req ReplaceRequest) (*Environment, error) {
	env, _, err := s.replace(ctx, actor, req, nil)
	return env, err
}

// replace is Replace; claim, when given, runs first in the transaction
// that queues the replace, which goes on only if it reports true (a
// rollout item moving to running: the item and its replace commit
// together, or neither does). queued is false when claim said no.
func (s *Service) replace(ctx context.Context, actor Actor, req ReplaceRequest, claim func(tx *storage.Tx) (bool, error)) (env *Environment, queued bool, err error) {
	defer func() {
		if err != nil || queued || claim == nil {
			s.audit(ctx, actor, "environment.replace", req.ID, err)
		}
	}()
	r, e, err := s.replaceable(ctx, actor, req.ID)
	if err != nil {
		return nil, false, err
	}
	v, err := s.replaceTarget(ctx, e, cmpOr(strings.TrimSpace(req.Version), e.Version))
	if err != nil {
		return nil, false, err
	}
	base, err := s.currentValues(r)
	if err != nil {
		return nil, false, err
	}
	for k, val := range req.Params {
		base[k] = val
	}
	plain, secrets, err := s.replaceParams(ctx, v, base)
	if err != nil {
		return nil, false, err
	}
	reason := cmpOr(strings.TrimSpace(req.Reason), "Requested by "+actor.Name)
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		if claim != nil {
			ok, err := claim(tx)
			if err != nil || !ok {
				return err
			}
		}
		// A replace that raises the rate is held to the quotas (a
		// rollout's is not: it is the template owners' upgrade).
		if rate := v.Spec.Cost.Rate(plain); claim == nil && rate > Money(r.HourlyCostMicros) {
			c := changeOfRow(r, 0)
			c.rate = rate
			if err := s.enforceQuota(ctx, tx, c); err != nil {
				return err
			}
		}
		queued = true
		_, err := s.queueReplace(ctx, tx, r, v, plain, secrets, actor.Name, reason)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if !queued {
		return nil, false, nil
	}
	s.Touch(r.ID, ViaReplace)
	s.hub.notify(r.ID)
	s.log.Info("replace queued", "environment", r.ID, "from", r.Version, "to", v.Spec.Version, "by", actor.Name)
	env, err = s.Environment(ctx, r.ID)
	return env, true, err
}

// replaceable loads an environment that actor may replace (or roll back)
// now: ready, with no replace in progress.
func (s *Service) replaceable(ctx context.Context, actor Actor, id string) (*storage.Environment, *Environment, error) {
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, Errorf(ENotFound, "environment %q does not exist", id)
	}
	if err != nil {
		return nil, nil, err
	}
	e := environmentFromRow(r, splitNames(r.SecretNames))
	if err := CanActOn(actor, e); err != nil {
		return nil, nil, err
	}
	if e.Status != StatusReady {
		return nil, nil, Errorf(EConflict, "environment %s is %s; only a ready environment can be replaced", e.Name, e.Status)
	}
	stacks, err := s.store.StacksOf(ctx, r.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, st := range stacks {
		if StackPhase(st.Status) == StackBuilding {
			return nil, nil, Errorf(EConflict, "environment %s is being replaced with %s already; wait for it to finish", e.Name, st.Version)
		}
	}
	return r, e, nil
}

// replaceTarget finds the version to replace e's stack with: of e's
// template, on e's provider, that the provider can build.
func (s *Service) replaceTarget(ctx context.Context, e *Environment, version string) (Version, error) {
	tpl, err := s.Template(ctx, e.Template)
	if err != nil {
		return Version{}, err
	}
	i := slices.IndexFunc(tpl.Versions, func(v Version) bool { return v.Spec.Version == version })
	if i < 0 {
		return Version{}, Invalid("replace request is not valid", FieldError{Field: "version",
			Message: fmt.Sprintf("template %s has no version %s", e.Template, version)})
	}
	v := tpl.Versions[i]
	if v.Spec.Provider != e.Provider {
		return Version{}, Invalid("replace request is not valid", FieldError{Field: "version", Message: fmt.Sprintf(
			"%s@%s runs on %s, the environment on %s: a replace stays on its provider", e.Template, version, v.Spec.Provider, e.Provider)})
	}
	if !s.providerOn(v.Spec.Provider) {
		return Version{}, Invalid("replace request is not valid", FieldError{Field: "version",
			Message: fmt.Sprintf("%s@%s cannot be built: %s", e.Template, version, s.providerUnavailable(v.Spec.Provider))})
	}
	if v.Retired(s.now()) {
		return Version{}, Invalid("replace request is not valid", FieldError{Field: "version", Message: fmt.Sprintf(
			"%s@%s is retired: deprecated, and its deprecation date (%s) has passed", e.Template, version, v.DeprecationDate.UTC().Format(time.DateOnly))})
	}
	return v, nil
}

// currentValues are the parameter values r's stack in service runs with,
// secrets decrypted.
func (s *Service) currentValues(r *storage.Environment) (map[string]string, error) {
	values := decodeMap(r.Params)
	secrets, err := s.cipher.open(r.Secrets, r.ID)
	if err != nil {
		return nil, fmt.Errorf("envs: replace %s: secrets: %w", r.ID, err)
	}
	maps.Copy(values, secrets)
	return values, nil
}

// replaceParams checks values against v as a launch is checked: the ones v
// no longer declares are dropped, the ones it adds take their defaults (or
// must be given).
func (s *Service) replaceParams(ctx context.Context, v Version, values map[string]string) (plain, secrets map[string]string, err error) {
	given := map[string]any{}
	for _, p := range v.Spec.Parameters {
		if val, ok := values[p.Name]; ok {
			given[p.Name] = val
		}
	}
	checked, fields := ValidateParams(v.Spec.Parameters, given)
	if len(fields) == 0 {
		fields = s.checkChoices(ctx, v.Spec, checked)
	}
	if len(fields) > 0 {
		return nil, nil, Invalid("replace request is not valid", fields...)
	}
	plain, secrets = splitSecrets(v.Spec, checked)
	return plain, secrets, nil
}

// queueReplace records, in tx, a candidate stack of v for r with its job;
// r must be ready with no candidate (checked again here: the row is
// locked by the conditional update). The environment's first stack gets
// its row now.
func (s *Service) queueReplace(ctx context.Context, tx *storage.Tx, r *storage.Environment, v Version, plain, secrets map[string]string, by, reason string) (*storage.Stack, error) {
	now := s.now()
	ok, err := tx.Transition(ctx, r.ID, statusStrings(StatusReady), string(StatusReady), storage.EnvironmentUpdate{StackID: storage.Set(stackIDOf(r)), UpdatedAt: storage.Set(now)})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, Errorf(EConflict, "environment %s is no longer ready; only a ready environment can be replaced", r.Name)
	}
	// Checked before the insert, whose unique violation would end the
	// whole transaction on PostgreSQL (a drift check's record with it).
	stacks, err := tx.StacksOf(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(stacks, func(st storage.Stack) bool { return StackPhase(st.Status) == StackBuilding }); i >= 0 {
		return nil, Errorf(EConflict, "environment %s is being replaced with %s already; wait for it to finish", r.Name, stacks[i].Version)
	}
	if r.StackID == "" {
		first := &storage.Stack{ID: r.ID, EnvironmentID: r.ID, Version: r.Version, VersionID: r.VersionID, Handle: r.Handle,
			Status: string(StackInService), Params: r.Params, Secrets: r.Secrets, SecretNames: r.SecretNames,
			Outputs: r.Outputs, Facts: r.Facts, Attempt: 1, CreatedAt: r.CreatedAt, UpdatedAt: now,
			ReadyAt: r.ReadyAt, SwitchedAt: r.ReadyAt, RTOMillis: r.RTOMillis, RPOMillis: r.RPOMillis}
		if err := tx.CreateStack(ctx, first); err != nil {
			return nil, err
		}
		r.StackID = r.ID
	}
	sealed, err := s.cipher.seal(secrets, r.ID)
	if err != nil {
		return nil, err
	}
	cand := &storage.Stack{ID: "stk-" + strings.ToLower(randomID(10)), EnvironmentID: r.ID, Version: v.Spec.Version, VersionID: v.ID,
		Status: string(StackBuilding), Params: encodeMap(plain), Secrets: sealed,
		SecretNames: strings.Join(slices.Sorted(maps.Keys(secrets)), ","), Outputs: "{}", Facts: "{}",
		Replaces: r.StackID, FromVersion: r.Version, RequestedBy: by, RequestReason: reason, Attempt: 1,
		CreatedAt: now, UpdatedAt: now, RequestedAt: &now}
	if err := tx.CreateStack(ctx, cand); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, Errorf(EConflict, "environment %s is being replaced already; wait for it to finish", r.Name)
		}
		return nil, err
	}
	msg := fmt.Sprintf("Replace with %s@%s requested (%s): building a new stack beside the one in service", r.TemplateName, v.Spec.Version, reason)
	if err := s.addStackEvent(ctx, tx, r.ID, cand.ID, EventAction, "", msg, by); err != nil {
		return nil, err
	}
	if err := s.jobs.InsertTx(ctx, tx, replaceArgs{EnvironmentID: r.ID, StackID: cand.ID}, s.attemptOpts(s.cfg.ProvisionAttempts)); err != nil {
		return nil, err
	}
	return cand, nil
}

func (s *Service) addStackEvent(ctx context.Context, tx *storage.Tx, envID, stackID, kind string, status Status, msg, actor string) error {
	return tx.AddEvent(ctx, &storage.Event{EnvironmentID: envID, StackID: stackID, At: s.now(), Kind: kind,
		Status: string(status), Message: oneLine(msg), Actor: actor})
}

// Rollback goes back to the version the environment ran before its last
// replace: at once when that stack is still on standby (the one in service
// takes its place on standby), otherwise by a replace with that version and
// the values it ran with.
func (s *Service) Rollback(ctx context.Context, actor Actor, id string) (env *Environment, err error) {
	defer func() { s.audit(ctx, actor, "environment.rollback", id, err) }()
	r, e, err := s.replaceable(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if r.StackID == "" {
		return nil, Errorf(EConflict, "environment %s was never replaced: there is no earlier version to roll back to", e.Name)
	}
	cur, err := s.store.Stack(ctx, r.StackID)
	if err != nil {
		return nil, err
	}
	if cur.Replaces == "" {
		return nil, Errorf(EConflict, "environment %s runs its first stack: there is no earlier version to roll back to", e.Name)
	}
	prev, err := s.store.Stack(ctx, cur.Replaces)
	if err != nil {
		return nil, err
	}
	v, err := s.replaceTarget(ctx, e, prev.Version)
	if err != nil {
		why := ErrorMessage(err)
		if fe := ErrorFields(err); len(fe) > 0 {
			why = fe[0].Message
		}
		return nil, Errorf(EConflict, "cannot roll back %s to %s: %s", e.Name, prev.Version, why)
	}
	why := fmt.Sprintf("Rollback to %s by %s", prev.Version, actor.Name)
	if StackPhase(prev.Status) == StackStandby {
		if err := s.switchBack(ctx, r, cur, prev, v, actor.Name, why); err != nil {
			return nil, err
		}
		return s.Environment(ctx, id)
	}
	values := decodeMap(prev.Params)
	secrets, err := s.cipher.open(prev.Secrets, r.ID)
	if err != nil {
		return nil, fmt.Errorf("envs: roll back %s: secrets: %w", id, err)
	}
	maps.Copy(values, secrets)
	plain, sec, err := s.replaceParams(ctx, v, values)
	if err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		_, err := s.queueReplace(ctx, tx, r, v, plain, sec, actor.Name, why)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(id)
	return s.Environment(ctx, id)
}

// switchBack puts prev, a standby stack, back in service in place of cur,
// in one transaction: an instant rollback.
func (s *Service) switchBack(ctx context.Context, r *storage.Environment, cur, prev *storage.Stack, v Version, by, why string) error {
	now := s.now()
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.TransitionStack(ctx, prev.ID, []string{string(StackStandby)}, string(StackInService), storage.StackUpdate{
			StandbyUntil: storage.Clear[time.Time](), SwitchedAt: storage.At(now), RequestedAt: storage.At(now), Replaces: storage.Set(cur.ID),
			FromVersion: storage.Set(cur.Version), RequestedBy: storage.Set(by), RequestReason: storage.Set(why), FailedAt: storage.Clear[time.Time](),
			Reason: storage.Set(""), UpdatedAt: storage.Set(now)})
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(EConflict, "the stack of %s is no longer on standby; try again", prev.Version)
		}
		cur.Handle, cur.Outputs, cur.Facts = r.Handle, r.Outputs, r.Facts
		return s.switchTx(ctx, tx, r, cur, prev, v, by, fmt.Sprintf("Rolled back to %s@%s: its standby stack is in service again", r.TemplateName, prev.Version))
	})
	if err != nil {
		return err
	}
	s.hub.notify(r.ID)
	s.log.Info("rolled back", "environment", r.ID, "to", prev.Version)
	return nil
}

// switchTx makes next (in service already in the stacks table) the
// environment's stack in place of old, which goes on standby for v's
// rollback grace or is destroyed now, in tx.
func (s *Service) switchTx(ctx context.Context, tx *storage.Tx, r *storage.Environment, old, next *storage.Stack, v Version, by, msg string) error {
	now := s.now()
	ok, err := tx.Transition(ctx, r.ID, statusStrings(StatusReady), string(StatusReady), storage.EnvironmentUpdate{
		StackID: storage.Set(next.ID), Handle: storage.Set(next.Handle), Outputs: storage.Set(next.Outputs), Facts: storage.Set(next.Facts),
		Version: storage.Set(next.Version), VersionID: storage.Set(next.VersionID), Params: storage.Set(next.Params), Secrets: storage.Set(next.Secrets),
		SecretNames: storage.Set(next.SecretNames), StatusReason: storage.Set(""), UpdatedAt: storage.Set(now),
		// The stack in service decides the rate from now on.
		HourlyCostMicros: storage.Set(int64(v.Spec.Cost.Rate(decodeMap(next.Params)))),
		// The recovery figures shown are the in-service stack's own (nil
		// for a stack that has none: not a DR kind, or recorded before
		// stacks kept them).
		RTOMillis: storage.Set(next.RTOMillis), RPOMillis: storage.Set(next.RPOMillis)})
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(EConflict, "environment %s is no longer ready", r.Name)
	}
	grace := s.rollbackGrace(v)
	until := now.Add(grace)
	if until.After(r.ExpiresAt) {
		until = r.ExpiresAt.UTC()
	}
	upd := storage.StackUpdate{Handle: storage.Set(old.Handle), Outputs: storage.Set(old.Outputs), Facts: storage.Set(old.Facts), UpdatedAt: storage.Set(now)}
	opts := s.attemptOpts(s.cfg.DestroyAttempts)
	if grace > 0 && until.After(now) {
		upd.StandbyUntil = storage.At(until)
		opts.ScheduledAt = until
		msg += fmt.Sprintf("; the stack of %s is kept on standby until %s for a rollback", old.Version, until.Format(time.RFC3339))
		if _, err := tx.TransitionStack(ctx, old.ID, []string{string(StackInService)}, string(StackStandby), upd); err != nil {
			return err
		}
	} else {
		msg += fmt.Sprintf("; destroying the stack of %s", old.Version)
		if _, err := tx.TransitionStack(ctx, old.ID, []string{string(StackInService)}, string(StackDestroying), upd); err != nil {
			return err
		}
	}
	if err := s.addStackEvent(ctx, tx, r.ID, next.ID, EventAction, "", msg, by); err != nil {
		return err
	}
	return s.jobs.InsertTx(ctx, tx, stackDestroyArgs{EnvironmentID: r.ID, StackID: old.ID}, opts)
}

// rollbackGrace is how long the stack a replace to v took out of service
// is kept for a rollback: v's rollback.grace, else the server's.
func (s *Service) rollbackGrace(v Version) time.Duration {
	if v.Spec.Rollback != nil {
		return v.Spec.Rollback.Grace
	}
	return max(s.cfg.RollbackGrace, 0)
}

// --- the candidate's job ---

type replaceWorker struct {
	river.WorkerDefaults[replaceArgs]
	s *Service
}

func (w *replaceWorker) NextRetry(job *river.Job[replaceArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

// Work builds the candidate one step further, as a launch is built: create
// the stack, check on it until it is ready (then switch) or failed (then
// destroy it, the stack in service untouched). A destroy of the
// environment cuts the step short and destroys the candidate with the
// environment's other stacks.
func (w *replaceWorker) Work(ctx context.Context, job *river.Job[replaceArgs]) error {
	s := w.s
	r, unlock, err := s.jobEnvironment(ctx, job.Args.EnvironmentID)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.store.Stack(ctx, job.Args.StackID)
	if errors.Is(err, storage.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("stack %s does not exist", job.Args.StackID))
	}
	if err != nil {
		return err
	}
	if StackPhase(st.Status) != StackBuilding || Status(r.Status) != StatusReady {
		return nil // done, failed, or the environment is being destroyed (which destroys the candidate)
	}
	m := s.stackMasker(r, st)
	ctx = withMasker(ctx, m)
	sctx, stop := s.watchDestroy(ctx, r.ID)
	err = w.step(sctx, r, st)
	if stop() {
		if err != nil {
			rctx, cancel := recordCtx(ctx)
			defer cancel()
			s.stackEvent(rctx, r.ID, st.ID, "Building the new stack stopped for the destroy")
		}
		return nil
	}
	if !isFailedAttempt(err) {
		return err
	}
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	reason := oneLine(m.mask(err.Error()))
	if job.Attempt >= s.cfg.ProvisionAttempts {
		return s.failReplace(rctx, r, st, fmt.Sprintf("%s (attempt %d of %d)", reason, job.Attempt, s.cfg.ProvisionAttempts))
	}
	s.stackEvent(rctx, r.ID, st.ID, fmt.Sprintf("Building the new stack: attempt %d of %d failed, retrying: %s", job.Attempt, s.cfg.ProvisionAttempts, reason))
	if st.Handle == "" {
		if err := s.store.UpdateStack(rctx, st.ID, storage.StackUpdate{Attempt: storage.Set(st.Attempt + 1), UpdatedAt: storage.Set(s.now())}); err != nil {
			return err
		}
	}
	return &failedAttempt{errors.New(reason)}
}

// stackMasker masks the secrets of the environment and of its candidate.
func (s *Service) stackMasker(r *storage.Environment, st *storage.Stack) *masker {
	values := map[string]string{}
	for _, sealed := range [][]byte{r.Secrets, st.Secrets} {
		if len(sealed) == 0 {
			continue
		}
		if v, err := s.cipher.open(sealed, r.ID); err == nil {
			maps.Copy(values, v)
		}
	}
	if len(values) == 0 {
		return nil
	}
	return newMasker(values)
}

func (w *replaceWorker) step(ctx context.Context, r *storage.Environment, st *storage.Stack) error {
	s := w.s
	p, ok := s.providers[r.Provider]
	if !ok || s.off[r.Provider] {
		return s.failReplace(ctx, r, st, s.providerUnavailable(r.Provider))
	}
	if timeout := provisionTimeout(p, s.cfg.ProvisionTimeout); s.now().Sub(st.CreatedAt) > timeout {
		return s.failReplace(ctx, r, st, fmt.Sprintf("did not become ready within %s", FormatDuration(timeout)))
	}
	if st.Handle == "" {
		handle, err := w.provision(ctx, p, r, st)
		if err != nil {
			return err
		}
		rctx, cancel := recordCtx(ctx)
		err = s.store.UpdateStack(rctx, st.ID, storage.StackUpdate{Handle: storage.Set(handle), UpdatedAt: storage.Set(s.now())})
		cancel()
		if err != nil {
			return err
		}
		st.Handle = handle
	}
	status, err := callProvider(ctx, s, p, "Status", func(ctx context.Context) (StackStatus, error) { return p.Status(ctx, st.Handle) })
	if err != nil {
		return fmt.Errorf("status of %s: %w", st.Handle, err)
	}
	m := maskerFrom(ctx)
	for _, ev := range status.Events {
		s.stackEvent(ctx, r.ID, st.ID, m.mask(ev.Message))
	}
	switch status.State {
	case StackReady:
		return s.switchTo(ctx, r, st, status)
	case StackFailed:
		return s.failReplace(ctx, r, st, cmpOr(status.Reason, "the stack failed"))
	default:
		return river.JobSnooze(s.cfg.PollInterval)
	}
}

func (w *replaceWorker) provision(ctx context.Context, p Provider, r *storage.Environment, st *storage.Stack) (string, error) {
	s := w.s
	v, err := s.store.VersionByID(ctx, st.VersionID)
	if err != nil {
		return "", fmt.Errorf("load version: %w", err)
	}
	params := decodeMap(st.Params)
	secrets, err := s.cipher.open(st.Secrets, r.ID)
	if err != nil {
		return "", &failedAttempt{err}
	}
	maps.Copy(params, secrets)
	prog := &stackProgress{s: s, envID: r.ID, stackID: st.ID, m: maskerFrom(ctx), ctx: context.WithoutCancel(ctx)}
	req := ProvisionRequest{
		EnvironmentID: r.ID, StackID: st.ID, Name: r.Name, Owner: r.Owner, Template: r.TemplateName, Version: st.Version,
		Stack: []byte(v.Stack), Params: params, ExpiresAt: r.ExpiresAt.UTC(),
		InstanceID: s.instance, Attempt: max(st.Attempt, 1), Snapshot: r.PinnedSnapshot, Progress: prog,
	}
	handle, err := callProvider(ctx, s, p, "Provision", func(ctx context.Context) (string, error) { return p.Provision(ctx, req) })
	prog.close()
	return handle, err
}

// switchTo puts the ready candidate in service, in one transaction.
func (s *Service) switchTo(ctx context.Context, r *storage.Environment, cand *storage.Stack, st StackStatus) error {
	v, err := s.versionByID(ctx, cand.VersionID)
	if err != nil {
		return err
	}
	old, err := s.store.Stack(ctx, stackIDOf(r))
	if err != nil {
		return err
	}
	m := maskerFrom(ctx)
	now := s.now()
	cand.Outputs, cand.Facts = encodeMap(m.maskMap(st.Outputs)), encodeMap(m.maskMap(st.Facts))
	var line string
	if Kind(r.Kind) == KindDR {
		// The new stack passed its verify (the provider's Status is ready
		// only then): its own recovery is measured, from its request to
		// now, and its snapshot's age at that request. They are the
		// stack's, put on the environment by the switch (switchTx).
		rto := now.Sub(cand.CreatedAt)
		cand.RTOMillis = ptrTo(rto.Milliseconds())
		line = fmt.Sprintf("New stack recovered and verified: RTO %s", FormatDuration(rto))
		if taken, err := time.Parse(time.RFC3339, st.Facts[FactSnapshotTakenAt]); err == nil {
			rpo := max(cand.CreatedAt.Sub(taken), 0)
			cand.RPOMillis = ptrTo(rpo.Milliseconds())
			line += fmt.Sprintf(", RPO %s", FormatDuration(rpo))
		}
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.TransitionStack(ctx, cand.ID, []string{string(StackBuilding)}, string(StackInService), storage.StackUpdate{
			Handle: storage.Set(cand.Handle), Outputs: storage.Set(cand.Outputs), Facts: storage.Set(cand.Facts), ReadyAt: storage.At(now),
			SwitchedAt: storage.At(now), UpdatedAt: storage.Set(now), RTOMillis: storage.Set(cand.RTOMillis), RPOMillis: storage.Set(cand.RPOMillis)})
		if err != nil || !ok {
			return err
		}
		old.Handle, old.Outputs, old.Facts = r.Handle, r.Outputs, r.Facts
		msg := fmt.Sprintf("Replaced: %s@%s is in service (stack %s)", r.TemplateName, cand.Version, cand.ID)
		if line != "" {
			if err := s.addStackEvent(ctx, tx, r.ID, cand.ID, EventProvider, "", line, ""); err != nil {
				return err
			}
		}
		if err := s.actReplaceSettled(ctx, tx, r, cand, ""); err != nil {
			return err
		}
		return s.switchTx(ctx, tx, r, old, cand, v, System.Name, msg)
	})
	if err != nil {
		return err
	}
	s.hub.notify(r.ID)
	s.log.Info("replaced", "environment", r.ID, "from", r.Version, "to", cand.Version, "stack", cand.ID)
	return nil
}

func (s *Service) versionByID(ctx context.Context, id int64) (Version, error) {
	row, err := s.store.VersionByID(ctx, id)
	if err != nil {
		return Version{}, fmt.Errorf("load version: %w", err)
	}
	return versionFromRow(row)
}

// failReplace records a failed candidate and queues its destroy, in one
// transaction; the stack in service stays as it is, the environment ready.
func (s *Service) failReplace(ctx context.Context, r *storage.Environment, cand *storage.Stack, reason string) error {
	reason = oneLine(reason)
	now := s.now()
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.TransitionStack(ctx, cand.ID, []string{string(StackBuilding)}, string(StackFailedOut),
			storage.StackUpdate{Reason: storage.Set(reason), FailedAt: storage.At(now), UpdatedAt: storage.Set(now)})
		if err != nil || !ok {
			return err
		}
		msg := fmt.Sprintf("Replace with %s failed: %s; %s stays in service, the new stack is destroyed", cand.Version, reason, r.Version)
		if err := s.addStackEvent(ctx, tx, r.ID, cand.ID, EventAction, "", msg, System.Name); err != nil {
			return err
		}
		if err := s.actReplaceSettled(ctx, tx, r, cand, reason); err != nil {
			return err
		}
		return s.jobs.InsertTx(ctx, tx, stackDestroyArgs{EnvironmentID: r.ID, StackID: cand.ID}, s.attemptOpts(s.cfg.DestroyAttempts))
	})
	if err == nil {
		s.hub.notify(r.ID)
		s.log.Warn("replace failed", "environment", r.ID, "to", cand.Version, "reason", reason)
	}
	return err
}

// stackEvent records a line about one stack of a ready environment
// (dropped once the environment is no longer ready: a destroy took over).
func (s *Service) stackEvent(ctx context.Context, envID, stackID, msg string) {
	ev := &storage.Event{EnvironmentID: envID, StackID: stackID, At: s.now(), Kind: EventProvider, Message: oneLine(msg)}
	added, err := s.store.AddEventWhile(ctx, ev, statusStrings(StatusReady))
	if err != nil {
		s.log.Error("record event", "environment", envID, "err", err)
		return
	}
	if added {
		s.hub.notify(envID)
	}
}

// stackProgress is the Progress of a candidate's Provision: its steps go
// into the environment's timeline, labelled with the stack.
type stackProgress struct {
	s              *Service
	envID, stackID string
	m              *masker
	ctx            context.Context
	closed         bool
}

// StackCreated is said once: a Provision run again after a crash builds
// the same stack and says so again.
func (p *stackProgress) StackCreated(handle string) {
	if p.closed {
		return
	}
	msg := stackCreatedMessage(handle)
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if has, err := p.s.store.HasEvent(ctx, p.envID, EventProvider, msg); err != nil {
		p.s.log.Error("read timeline", "environment", p.envID, "err", err)
	} else if !has {
		p.s.stackEvent(ctx, p.envID, p.stackID, msg)
	}
}

func (p *stackProgress) Event(ev ProviderEvent) {
	if !p.closed {
		p.s.stackEvent(p.ctx, p.envID, p.stackID, p.m.mask(ev.Message))
	}
}

func (p *stackProgress) close() { p.closed = true }

// --- destroying a stack that is not in service ---

type stackDestroyWorker struct {
	river.WorkerDefaults[stackDestroyArgs]
	s *Service
}

func (w *stackDestroyWorker) NextRetry(job *river.Job[stackDestroyArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

// Work destroys a stack out of service: a standby whose grace is over, the
// old stack of a replace without grace, a failed candidate. A stack put
// back in service meanwhile (a rollback) is left alone.
func (w *stackDestroyWorker) Work(ctx context.Context, job *river.Job[stackDestroyArgs]) error {
	s := w.s
	r, unlock, err := s.jobEnvironment(ctx, job.Args.EnvironmentID)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.store.Stack(ctx, job.Args.StackID)
	if errors.Is(err, storage.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("stack %s does not exist", job.Args.StackID))
	}
	if err != nil {
		return err
	}
	switch StackPhase(st.Status) {
	case StackStandby:
		if st.StandbyUntil != nil {
			if left := st.StandbyUntil.Sub(s.now()); left > 0 {
				return river.JobSnooze(left)
			}
		}
		ok, err := s.store.TransitionStack(ctx, st.ID, []string{string(StackStandby)}, string(StackDestroying), storage.StackUpdate{UpdatedAt: storage.Set(s.now())})
		if err != nil || !ok {
			return err
		}
		s.stackEvent(ctx, r.ID, st.ID, fmt.Sprintf("Rollback grace over: destroying the standby stack of %s", st.Version))
	case StackDestroying, StackFailedOut:
	default:
		return nil
	}
	p, known := s.providers[r.Provider]
	if !known {
		return fmt.Errorf("provider %q is not configured on this server", r.Provider)
	}
	ctx = withMasker(ctx, s.stackMasker(r, st))
	done, err := s.destroyStackRow(ctx, p, st)
	if err != nil {
		if job.Attempt >= s.cfg.DestroyAttempts {
			rctx, cancel := recordCtx(ctx)
			defer cancel()
			s.stackEvent(rctx, r.ID, st.ID, fmt.Sprintf("Destroying the stack of %s failed (gave up; destroying the environment tries again): %s",
				st.Version, maskerFrom(ctx).mask(err.Error())))
			return river.JobCancel(err)
		}
		return err
	}
	if !done {
		return river.JobSnooze(s.cfg.PollInterval)
	}
	return s.stackDestroyed(ctx, r.ID, st, true)
}

// destroyStackRow asks the provider to tear one stack down; a stack
// without a recorded handle is looked for under its id (providers key
// stacks by it).
func (s *Service) destroyStackRow(ctx context.Context, p Provider, st *storage.Stack) (bool, error) {
	handle := st.Handle
	if handle == "" {
		stacks, err := callProvider(ctx, s, p, "Stacks", p.Stacks)
		if err != nil && !isFailedAttempt(err) {
			return false, err
		}
		if slices.Contains(stacks, st.ID) {
			handle = st.ID
		}
	}
	if handle == "" {
		return true, nil
	}
	return s.callDestroy(ctx, p, handle)
}

// stackDestroyed records a stack gone; say adds its timeline line.
func (s *Service) stackDestroyed(ctx context.Context, envID string, st *storage.Stack, say bool) error {
	now := s.now()
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.TransitionStack(ctx, st.ID, []string{string(StackDestroying), string(StackFailedOut), string(StackStandby), string(StackBuilding), string(StackInService)},
			string(StackDestroyed), storage.StackUpdate{DestroyedAt: storage.At(now), UpdatedAt: storage.Set(now)})
		if err != nil || !ok || !say {
			return err
		}
		return s.addStackEvent(ctx, tx, envID, st.ID, EventProvider, "", fmt.Sprintf("Stack %s (%s) destroyed", st.ID, st.Version), "")
	})
	if err == nil {
		s.hub.notify(envID)
	}
	return err
}

// destroyOtherStacks destroys, for an environment being destroyed, every
// stack of it but the one in service (which the destroy job destroys by
// the environment's handle): a candidate being built, a standby, a failed
// one not cleaned up yet. done is false while one is still being deleted.
func (s *Service) destroyOtherStacks(ctx context.Context, p Provider, r *storage.Environment) (done bool, err error) {
	if r.StackID == "" {
		return true, nil // never replaced: one stack
	}
	stacks, err := s.store.StacksOf(ctx, r.ID)
	if err != nil {
		return false, err
	}
	done = true
	for i := range stacks {
		st := &stacks[i]
		if st.ID == r.StackID || StackPhase(st.Status) == StackDestroyed {
			continue
		}
		gone, err := s.destroyStackRow(ctx, p, st)
		if err != nil {
			return false, err
		}
		if !gone {
			done = false
			continue
		}
		if err := s.stackDestroyed(ctx, r.ID, st, false); err != nil {
			return false, err
		}
	}
	return done, nil
}

// attachStacks loads an environment's stacks, its latest replace and what
// a rollback would do; consistent is false when the stack in service is
// not the one e says (a switch committed since e was read).
func (s *Service) attachStacks(ctx context.Context, e *Environment) (consistent bool, err error) {
	rows, err := s.store.StacksOf(ctx, e.ID)
	if err != nil {
		return false, err
	}
	if e.StackID == "" {
		return len(rows) == 0, nil
	}
	for _, st := range rows {
		if StackPhase(st.Status) == StackInService && st.ID != e.StackID {
			return false, nil
		}
	}
	byID := map[string]*storage.Stack{}
	var latest *storage.Stack
	for i := range rows {
		st := &rows[i]
		byID[st.ID] = st
		e.Stacks = append(e.Stacks, StackRecord{ID: st.ID, Version: st.Version, Status: StackPhase(st.Status), Reason: st.Reason,
			CreatedAt: st.CreatedAt.UTC(), ReadyAt: utcPtr(st.ReadyAt), SwitchedAt: utcPtr(st.SwitchedAt),
			StandbyUntil: utcPtr(st.StandbyUntil), DestroyedAt: utcPtr(st.DestroyedAt)})
		if st.RequestedAt != nil && (latest == nil || !st.RequestedAt.Before(*latest.RequestedAt)) {
			latest = st
		}
	}
	if latest != nil {
		rp := &Replacement{FromVersion: latest.FromVersion, ToVersion: latest.Version, Why: latest.RequestReason,
			RequestedBy: latest.RequestedBy, StartedAt: latest.RequestedAt.UTC()}
		switch {
		case StackPhase(latest.Status) == StackBuilding:
			rp.State = ReplaceBuilding
		case latest.FailedAt != nil:
			rp.State, rp.Reason, rp.FinishedAt = ReplaceFailed, latest.Reason, latest.FailedAt.UTC()
		default:
			rp.State = ReplaceSwitched
			if latest.SwitchedAt != nil {
				rp.FinishedAt = latest.SwitchedAt.UTC()
			}
		}
		e.Replace = rp
	}
	if cur := byID[e.StackID]; cur != nil && cur.Replaces != "" {
		if prev := byID[cur.Replaces]; prev != nil {
			e.RollbackVersion = prev.Version
			e.RollbackInstant = StackPhase(prev.Status) == StackStandby
		}
	}
	return true, nil
}

func ptrTo[T any](v T) *T { return &v }
