package storage

import (
	"context"
	"fmt"
)

// The audit log.

// Audit appends an audit entry.
func (q Queries) Audit(ctx context.Context, a *AuditEntry) error {
	if err := q.ctx(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("storage: audit %s: %w", a.Action, err)
	}
	return nil
}

// AuditMany records several audit entries at once (a reaper batch).
func (q Queries) AuditMany(ctx context.Context, as []AuditEntry) error {
	if len(as) == 0 {
		return nil
	}
	if err := q.ctx(ctx).CreateInBatches(as, 500).Error; err != nil {
		return fmt.Errorf("storage: audit %d entries: %w", len(as), err)
	}
	return nil
}

// AuditEntries lists the newest audit entries first.
func (q Queries) AuditEntries(ctx context.Context, limit int) ([]AuditEntry, error) {
	var as []AuditEntry
	if err := q.ctx(ctx).Order("id DESC").Limit(limit).Find(&as).Error; err != nil {
		return nil, fmt.Errorf("storage: list audit log: %w", err)
	}
	return as, nil
}
