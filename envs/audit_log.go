package envs

import (
	"context"

	"github.com/mayflyhq/mayfly/storage"
)

// The audit log as people read it.

// AuditFilter narrows the audit log.
type AuditFilter = storage.AuditFilter

// AuditEntry is one line of the audit log.
type AuditEntry = storage.AuditEntry

// AuditLog lists audit entries (admins only), newest first.
func (s *Service) AuditLog(ctx context.Context, actor Actor, f AuditFilter) ([]AuditEntry, error) {
	if err := Authorize(actor, PermAdmin); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 10000
	}
	for _, v := range []struct{ field, value string }{
		{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}, {"result", f.Result},
	} {
		if err := checkFilterText(v.field, v.value); err != nil {
			return nil, err
		}
	}
	return s.store.AuditSearch(ctx, f)
}

// Audit records an action decided outside the service (e.g. a request
// refused before it reached the domain).
func (s *Service) Audit(ctx context.Context, actor Actor, action, target string, err error) {
	s.audit(ctx, actor, action, target, err)
}
