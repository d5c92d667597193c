package envs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// RetryDestroy is an administrator's way out of destroy_failed: destroy
// again now instead of at the next backoff, optionally leaving the named
// resources in place (those that cannot be deleted and will be handled by
// hand). Retaining needs a provider that supports it (aws).
func (s *Service) RetryDestroy(ctx context.Context, actor Actor, id string, retain []string) (env *Environment, err error) {
	defer func() { s.audit(ctx, actor, "environment.retry_destroy", id, err) }()
	if !actor.IsAdmin() {
		return nil, Errorf(EForbidden, "only administrators can retry a destroy")
	}
	unlock := s.locks.lock(id)
	defer unlock()
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "environment %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	if Status(r.Status) != StatusDestroyFailed {
		return nil, Errorf(EConflict, "environment %s is %s, not destroy_failed", r.Name, r.Status)
	}
	for i, name := range retain {
		if strings.TrimSpace(name) == "" {
			return nil, Invalid("retry request is not valid", FieldError{Field: fmt.Sprintf("retain[%d]", i), Message: "is empty"})
		}
	}
	msg := "Destroy retried by " + actor.Name
	if len(retain) > 0 {
		p, ok := s.providers[r.Provider].(RetainingDestroyer)
		if !ok {
			return nil, Invalid("retry request is not valid", FieldError{Field: "retain",
				Message: fmt.Sprintf("the %s provider cannot retain resources", r.Provider)})
		}
		// A provider that hangs must not hold the request: the call gets a
		// job's timeout, and is abandoned after it like a job's.
		cctx, cancel := context.WithTimeout(ctx, s.cfg.JobTimeout)
		_, err := callProvider(cctx, s, s.providers[r.Provider], "DestroyRetaining", func(ctx context.Context) (bool, error) {
			return p.DestroyRetaining(ctx, r.Handle, retain)
		})
		cancel()
		if err != nil {
			if m := s.masker(r); m != nil {
				err = errors.New(m.mask(err.Error()))
			}
			return nil, fmt.Errorf("envs: retry destroy of %s: %w", id, err)
		}
		msg += ", retaining " + strings.Join(retain, ", ")
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		_, err := s.requestDestroy(ctx, tx, r, msg, actor.Name, time.Time{})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(id)
	return s.Environment(ctx, id)
}
