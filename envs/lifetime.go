package envs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// An environment's lifetime: extending it and asking for its destroy.

// Extend adds ttl to an environment's lifetime, never past its maximum.
func (s *Service) Extend(ctx context.Context, actor Actor, id, ttl string) (env *Environment, err error) {
	defer func() { s.audit(ctx, actor, "environment.extend", id, err) }()
	return s.extend(ctx, actor, id, ttl, nil)
}

// extend is Extend without its audit; approved, when set, runs in the
// extend's transaction and exempts it from the quotas (an approved
// request, see approval.go).
func (s *Service) extend(ctx context.Context, actor Actor, id, ttl string, approved func(tx *storage.Tx) error) (env *Environment, err error) {
	d, perr := time.ParseDuration(ttl)
	if perr != nil || d <= 0 {
		return nil, Invalid("extend request is not valid", FieldError{Field: "ttl", Message: fmt.Sprintf("%q is not a positive duration such as 30m or 1h", ttl)})
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		r, err := tx.Environment(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return Errorf(ENotFound, "environment %q does not exist", id)
		}
		if err != nil {
			return err
		}
		e := environmentFromRow(r, splitNames(r.SecretNames))
		if err := CanActOn(actor, e); err != nil {
			return err
		}
		if !e.Status.Live() {
			return Errorf(EConflict, "environment %s is %s and can no longer be extended", e.Name, e.Status)
		}
		next := e.ExpiresAt.Add(d)
		if next.After(e.MaxExpiresAt) {
			return Invalid("extend request is not valid", FieldError{Field: "ttl", Message: fmt.Sprintf(
				"extending by %s would pass the maximum lifetime (%s); it can be extended by at most %s",
				FormatDuration(d), e.MaxExpiresAt.Format(time.RFC3339), FormatDuration(e.ExtendableBy().Truncate(time.Second)))})
		}
		if approved != nil {
			if err := approved(tx); err != nil {
				return err
			}
		} else {
			c := changeOfRow(r, 0)
			c.expires = next
			if err := s.enforceQuota(ctx, tx, c); err != nil {
				return err
			}
		}
		ok, err := tx.ExtendEnvironment(ctx, id, statusStrings(StatusPending, StatusProvisioning, StatusReady), r.ExpiresAt, next, s.now())
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(EConflict, "environment %s changed while extending it; try again", e.Name)
		}
		if err := s.armWarnings(ctx, tx, id, r.VersionID, next, true); err != nil {
			return err
		}
		msg := fmt.Sprintf("Extended by %s; now expires at %s", FormatDuration(d), next.Format(time.RFC3339))
		if err := s.addEvent(ctx, tx, id, EventAction, "", msg, actor.Name); err != nil {
			return err
		}
		e.ExpiresAt = next
		env = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Touch(id, ViaExtend)
	s.hub.notify(id)
	return env, nil
}

// Destroy asks for an environment to be destroyed now. Destroying an
// environment that is already destroying or destroyed succeeds.
func (s *Service) Destroy(ctx context.Context, actor Actor, id string) (env *Environment, err error) {
	defer func() { s.audit(ctx, actor, "environment.destroy", id, err) }()
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		r, err := tx.Environment(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return Errorf(ENotFound, "environment %q does not exist", id)
		}
		if err != nil {
			return err
		}
		if err := CanActOn(actor, environmentFromRow(r, nil)); err != nil {
			return err
		}
		if _, err := s.requestDestroy(ctx, tx, r, "Destroy requested by "+actor.Name, actor.Name, time.Time{}); err != nil {
			return err
		}
		// Destroying one its schedule stopped keeps it from starting again.
		_, err = s.cancelScheduledStart(ctx, tx, id, actor.Name)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(id)
	return s.Environment(ctx, id)
}

// requestDestroy moves a live, failed or destroy_failed environment to
// destroying and enqueues its destroy job, in the caller's transaction; a
// failed one whose stack was cleaned up already goes straight to
// destroyed. It reports false (and does nothing) when the environment is
// already on its way out or gone. A non-zero expiredAt makes it the reaper's: the
// environment must still be expired at that time when the row is updated,
// so an extension committed since the reaper looked wins.
func (s *Service) requestDestroy(ctx context.Context, tx *storage.Tx, r *storage.Environment, reason, actor string, expiredAt time.Time) (bool, error) {
	now := s.destroyRequest()
	if Status(r.Status) == StatusFailed && r.StackCleanedAt != nil {
		// Nothing left for a provider to destroy: the record is closed.
		ok, err := tx.TransitionStackCleaned(ctx, r.ID, statusStrings(StatusFailed), string(StatusDestroyed),
			storage.EnvironmentUpdate{DestroyRequestedAt: storage.At(now), DestroyedAt: storage.At(now), StatusReason: storage.Set(""),
				UpdatedAt: storage.Set(now), DestroyCause: storage.Set(destroyCause(actor, expiredAt))})
		if err != nil || !ok {
			return false, err
		}
		msg := "Destroyed on request of " + actor
		if !expiredAt.IsZero() {
			msg = "Destroyed: TTL expired"
		}
		return true, s.addEvent(ctx, tx, r.ID, EventStatus, StatusDestroyed, msg+" (the failed launch's stack was cleaned up already)", actor)
	}
	from := statusStrings(From(StatusDestroying)...)
	updates := storage.EnvironmentUpdate{DestroyRequestedAt: storage.At(now), DestroyGivenUpAt: storage.Clear[time.Time](),
		StatusReason: storage.Set(""), UpdatedAt: storage.Set(now)}
	if r.DestroyCause == "" { // a retried destroy keeps its first cause
		updates.DestroyCause = storage.Set(destroyCause(actor, expiredAt))
	}
	var ok bool
	var err error
	if expiredAt.IsZero() {
		ok, err = tx.Transition(ctx, r.ID, from, string(StatusDestroying), updates)
	} else {
		ok, err = tx.TransitionExpired(ctx, r.ID, from, string(StatusDestroying), expiredAt, updates)
	}
	if err != nil || !ok {
		return false, err
	}
	if err := s.addEvent(ctx, tx, r.ID, EventStatus, StatusDestroying, reason, actor); err != nil {
		return false, err
	}
	if err := s.jobs.InsertTx(ctx, tx, destroyArgs{EnvironmentID: r.ID, Request: now.UnixMicro()}, s.attemptOpts(s.cfg.DestroyAttempts)); err != nil {
		return false, err
	}
	return true, nil
}
