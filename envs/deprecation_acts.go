package envs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/storage"
)

// What a deprecation date does to each environment of the version is a
// row (deprecation_acts) tried until it is done, not a request made once
// and forgotten. The claim of a due deprecation creates a row per
// environment, in the transaction that queues their jobs. A try is one
// conditional update of the row in the transaction of the request it
// makes (the replace queued, the destroy requested), so two replicas
// trying the same row make one request. A refused request, and a replace
// whose new stack fails (recorded in the transaction of that failure),
// wait DeprecationRetryDelay, doubled each time, for the next try, up to
// DeprecationAttempts tries; the sweep queues the tries that are due.

// Deprecation act states (see migration 0020).
const (
	ActWaiting   = "waiting"
	ActReplacing = "replacing"
	ActDone      = "done"
	ActGaveUp    = "gave_up"
	ActMoot      = "moot"
)

// DeprecationProgress is, for an environment still on a version whose
// deprecation date passed, where the deprecation's action stands: why it
// is still there and when the next try is.
type DeprecationProgress struct {
	Action DeprecationAction
	// State is ActWaiting (for NextAt), ActReplacing (Target is being
	// built) or ActGaveUp; ActDone and ActMoot are not shown.
	State       string
	Target      string
	Attempts    int
	MaxAttempts int
	// Reason is why the last try failed ("" none failed yet).
	Reason  string
	TriedAt *time.Time
	NextAt  *time.Time
}

// errActLost: another replica's try of the same act won.
var errActLost = errors.New("envs: deprecation act tried elsewhere")

// newDeprecationActs are the rows of a due deprecation's environments.
func newDeprecationActs(v *storage.TemplateVersion, rows []storage.Environment, now time.Time) []storage.DeprecationAct {
	acts := make([]storage.DeprecationAct, 0, len(rows))
	for _, r := range rows {
		acts = append(acts, storage.DeprecationAct{EnvironmentID: r.ID, VersionID: v.ID, Action: v.DeprecationAction,
			State: ActWaiting, NextAt: &now, CreatedAt: now, UpdatedAt: now})
	}
	return acts
}

// queueDueDeprecationActs queues a job for each act whose next try (or the
// check on its replace) is due. The job names the tries made so far: one
// still queued for the same try is not doubled, and the job of the try
// before, finishing, does not hold this one back.
func (s *Service) queueDueDeprecationActs(ctx context.Context, now time.Time) error {
	due, err := s.store.DueDeprecationActs(ctx, now, 100)
	if err != nil || len(due) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, 0, len(due))
	for _, a := range due {
		params = append(params, river.InsertManyParams{Args: deprecationActArgs{EnvironmentID: a.EnvironmentID, VersionID: a.VersionID, Tries: a.Attempts}})
	}
	return s.store.InTx(ctx, func(tx *storage.Tx) error { return s.jobs.InsertManyTx(ctx, tx, params) })
}

// deprecationBackoff is the wait after the n-th failed try.
func (s *Service) deprecationBackoff(n int) time.Duration {
	d := s.cfg.DeprecationRetryDelay
	for i := 1; i < n && d < 6*time.Hour; i++ {
		d *= 2
	}
	return min(d, 6*time.Hour)
}

// actCheckAfter is when an act whose replace is building is looked at
// again should neither the switch nor the failure have settled it (a
// backstop: both settle it in their own transaction).
func (s *Service) actCheckAfter() time.Duration { return 2 * s.cfg.ProvisionTimeout }

// actOnDeprecated makes the next try of what the deprecation of versionID
// does to environment id, if one is due.
func (s *Service) actOnDeprecated(ctx context.Context, id string, versionID int64) error {
	act, err := s.store.DeprecationAct(ctx, id, versionID)
	if errors.Is(err, storage.ErrNotFound) {
		act, err = s.legacyAct(ctx, id, versionID)
	}
	if err != nil || act == nil {
		return err
	}
	if act.State != ActWaiting && act.State != ActReplacing {
		return nil
	}
	now := s.now()
	if act.NextAt != nil && act.NextAt.After(now) {
		return nil
	}
	r, err := s.store.Environment(ctx, id)
	if err != nil {
		return err
	}
	vr, err := s.store.VersionByID(ctx, versionID)
	if err != nil {
		return err
	}
	ref := vr.TemplateName + "@" + vr.Version
	if st := Status(r.Status); r.VersionID != versionID || st == StatusDestroying || st == StatusDestroyed || vr.DeprecationDate == nil {
		upd := *act
		upd.State, upd.NextAt, upd.FinishedAt, upd.UpdatedAt = ActMoot, nil, &now, now
		_, err := s.store.SaveDeprecationAct(ctx, &upd, act.State, act.Attempts)
		return err
	}
	why := fmt.Sprintf("%s is deprecated and its deprecation date (%s) passed", ref, vr.DeprecationDate.UTC().Format("2006-01-02 15:04 UTC"))
	switch {
	case act.State == ActReplacing:
		err = s.checkActReplace(ctx, r, act, ref)
	case DeprecationAction(act.Action) == DeprecationDestroy:
		err = s.tryDeprecationDestroy(ctx, r, act, ref, why)
	default:
		err = s.tryDeprecationReplace(ctx, r, vr, act, ref, why)
	}
	if errors.Is(err, errActLost) {
		return nil
	}
	s.hub.notify(id)
	return err
}

// legacyAct is the row of a job queued before acts were recorded.
func (s *Service) legacyAct(ctx context.Context, id string, versionID int64) (*storage.DeprecationAct, error) {
	vr, err := s.store.VersionByID(ctx, versionID)
	if err != nil {
		return nil, err
	}
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateDeprecationActs(ctx, newDeprecationActs(vr, []storage.Environment{*r}, s.now())); err != nil {
		return nil, err
	}
	return s.store.DeprecationAct(ctx, id, versionID)
}

// refusal is the reason a domain error gives, with its first field's.
func refusal(err error) string {
	msg := ErrorMessage(err)
	if fe := ErrorFields(err); len(fe) > 0 {
		msg += ": " + fe[0].Field + " " + fe[0].Message
	}
	return msg
}

// tryDeprecationReplace queues the replace with the newest version, the
// try recorded in the same transaction; a refusal is a failed try.
func (s *Service) tryDeprecationReplace(ctx context.Context, r *storage.Environment, vr *storage.TemplateVersion, act *storage.DeprecationAct, ref, why string) error {
	tpl, err := s.Template(ctx, vr.TemplateName)
	if err != nil {
		return err
	}
	target := ""
	for i, v := range tpl.Versions {
		if v.ID == vr.ID {
			target = newestAfter(tpl.Versions, i)
		}
	}
	err = func() error {
		if target == "" {
			return Errorf(EConflict, "there is no newer version that is not deprecated")
		}
		rr, e, err := s.replaceable(ctx, System, r.ID)
		if err != nil {
			return err
		}
		v, err := s.replaceTarget(ctx, e, target)
		if err != nil {
			return err
		}
		base, err := s.currentValues(rr)
		if err != nil {
			return err
		}
		plain, secrets, err := s.replaceParams(ctx, v, base)
		if err != nil {
			return err
		}
		now := s.now()
		upd := *act
		upd.State, upd.Attempts, upd.Target, upd.TriedAt, upd.UpdatedAt = ActReplacing, act.Attempts+1, target, &now, now
		next := now.Add(s.actCheckAfter())
		upd.NextAt = &next
		return s.store.InTx(ctx, func(tx *storage.Tx) error {
			cand, err := s.queueReplace(ctx, tx, rr, v, plain, secrets, System.Name, "Deprecation of "+ref)
			if err != nil {
				return err
			}
			upd.StackID = cand.ID
			if ok, err := tx.SaveDeprecationAct(ctx, &upd, act.State, act.Attempts); err != nil {
				return err
			} else if !ok {
				return errActLost
			}
			tries := fmt.Sprintf(" (attempt %d of %d)", upd.Attempts, s.cfg.DeprecationAttempts)
			if err := s.addEvent(ctx, tx, r.ID, EventAction, "", "Replacing with "+target+": "+why+tries, System.Name); err != nil {
				return err
			}
			entry := s.auditEntry(System, "environment.replace", r.ID, nil)
			entry.Detail = "deprecation of " + ref + tries
			return tx.Audit(ctx, entry)
		})
	}()
	if err == nil || errors.Is(err, errActLost) || ErrorCode(err) == EInternal {
		return err
	}
	return s.store.InTx(ctx, func(tx *storage.Tx) error {
		return s.actFailedTx(ctx, tx, act, act.Attempts+1, refusal(err), ref)
	})
}

// tryDeprecationDestroy requests the destroy, the try recorded in the same
// transaction (done: the destroy has its own retries from there).
func (s *Service) tryDeprecationDestroy(ctx context.Context, r *storage.Environment, act *storage.DeprecationAct, ref, why string) error {
	now := s.now()
	upd := *act
	upd.State, upd.Attempts, upd.TriedAt, upd.FinishedAt, upd.NextAt, upd.UpdatedAt = ActDone, act.Attempts+1, &now, &now, nil, now
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		if ok, err := tx.SaveDeprecationAct(ctx, &upd, act.State, act.Attempts); err != nil {
			return err
		} else if !ok {
			return errActLost
		}
		if _, err := s.requestDestroy(ctx, tx, r, "Destroy requested: "+why, System.Name, time.Time{}); err != nil {
			return err
		}
		entry := s.auditEntry(System, "environment.destroy", r.ID, nil)
		entry.Detail = "deprecation of " + ref
		return tx.Audit(ctx, entry)
	})
	if err == nil || errors.Is(err, errActLost) || ErrorCode(err) == EInternal {
		return err
	}
	return s.store.InTx(ctx, func(tx *storage.Tx) error {
		return s.actFailedTx(ctx, tx, act, act.Attempts+1, refusal(err), ref)
	})
}

// checkActReplace settles an act whose replace neither switched nor
// failed in a transaction that said so (the backstop).
func (s *Service) checkActReplace(ctx context.Context, r *storage.Environment, act *storage.DeprecationAct, ref string) error {
	st, err := s.store.Stack(ctx, act.StackID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	now := s.now()
	if st != nil && StackPhase(st.Status) == StackBuilding {
		upd := *act
		next := now.Add(s.actCheckAfter())
		upd.NextAt, upd.UpdatedAt = &next, now
		_, err := s.store.SaveDeprecationAct(ctx, &upd, act.State, act.Attempts)
		return err
	}
	reason := "the new stack is gone"
	if st != nil && st.Reason != "" {
		reason = st.Reason
	}
	return s.store.InTx(ctx, func(tx *storage.Tx) error {
		return s.actFailedTx(ctx, tx, act, act.Attempts, "the replace with "+act.Target+" failed: "+reason, ref)
	})
}

// actFailedTx records, in tx, a failed try of act (attempts tries made in
// all): the next after the backoff, or none after the last, with a line
// in the timeline and an audit entry. A row another try changed
// meanwhile is left alone.
func (s *Service) actFailedTx(ctx context.Context, tx *storage.Tx, act *storage.DeprecationAct, attempts int, reason, ref string) error {
	now := s.now()
	upd := *act
	upd.Attempts, upd.Reason, upd.UpdatedAt = attempts, oneLine(reason), now
	if act.State == ActWaiting {
		upd.TriedAt = &now // a refused try happened now; a replace's began when it was queued
	}
	verb, action := "Not replaced", "environment.replace"
	if DeprecationAction(act.Action) == DeprecationDestroy {
		verb, action = "Not destroyed", "environment.destroy"
	}
	var msg string
	if attempts >= s.cfg.DeprecationAttempts {
		upd.State, upd.NextAt, upd.FinishedAt = ActGaveUp, nil, &now
		msg = fmt.Sprintf("%s for the deprecation of %s: %s (attempt %d of %d; gave up)", verb, ref, upd.Reason, attempts, s.cfg.DeprecationAttempts)
	} else {
		next := now.Add(s.deprecationBackoff(attempts))
		upd.State, upd.NextAt = ActWaiting, &next
		msg = fmt.Sprintf("%s for the deprecation of %s: %s (attempt %d of %d; next try at %s)", verb, ref, upd.Reason, attempts,
			s.cfg.DeprecationAttempts, next.Format(time.RFC3339))
	}
	ok, err := tx.SaveDeprecationAct(ctx, &upd, act.State, act.Attempts)
	if err != nil || !ok {
		return err
	}
	if err := s.addEvent(ctx, tx, act.EnvironmentID, EventAction, "", msg, System.Name); err != nil {
		return err
	}
	entry := s.auditEntry(System, action, act.EnvironmentID, Errorf(EConflict, "%s", upd.Reason))
	entry.Detail = fmt.Sprintf("deprecation of %s: %s (attempt %d of %d)", ref, upd.Reason, attempts, s.cfg.DeprecationAttempts)
	return tx.Audit(ctx, entry)
}

// actReplaceSettled settles, in the transaction of the switch or of the
// failure of candidate stack cand, the act that queued it (if one did):
// failure "" is the switch.
func (s *Service) actReplaceSettled(ctx context.Context, tx *storage.Tx, r *storage.Environment, cand *storage.Stack, failure string) error {
	act, err := tx.DeprecationActOfStack(ctx, cand.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if failure != "" {
		return s.actFailedTx(ctx, tx, act, act.Attempts, "the replace with "+cand.Version+" failed: "+failure, r.TemplateName+"@"+cand.FromVersion)
	}
	now := s.now()
	upd := *act
	upd.State, upd.NextAt, upd.FinishedAt, upd.UpdatedAt = ActDone, nil, &now, now
	_, err = tx.SaveDeprecationAct(ctx, &upd, act.State, act.Attempts)
	return err
}

// attachDeprecation fills e.Deprecation for an environment still on a
// version whose deprecation date passed (and was acted on: an act row).
func (s *Service) attachDeprecation(ctx context.Context, e *Environment) error {
	if !e.VersionState.Deprecated {
		return nil
	}
	act, err := s.store.DeprecationAct(ctx, e.ID, e.VersionID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if act.State == ActDone || act.State == ActMoot {
		return nil
	}
	e.Deprecation = &DeprecationProgress{Action: DeprecationAction(act.Action), State: act.State, Target: act.Target,
		Attempts: act.Attempts, MaxAttempts: s.cfg.DeprecationAttempts, Reason: act.Reason,
		TriedAt: utcPtr(act.TriedAt), NextAt: utcPtr(act.NextAt)}
	if act.State == ActReplacing {
		e.Deprecation.NextAt = nil // a backstop, not a try
	}
	return nil
}
