package storage

import (
	"context"
	"fmt"
	"slices"
	"time"
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

// AuditFilter narrows the audit log.
type AuditFilter struct {
	Actor  string
	Action string // a prefix: "environment." matches every environment action
	Target string
	Result string
	Since  *time.Time
	Until  *time.Time
	// Before keeps the entries older than this id (the next page);
	// After those newer than it (the previous page, still newest first).
	Before, After int64
	Limit         int
}

// AuditSearch lists audit entries matching f, newest first.
func (q Queries) AuditSearch(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	db := q.ctx(ctx)
	if f.Actor != "" {
		db = db.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		db = db.Where("action LIKE ? ESCAPE '\\'", escapeLike(f.Action)+"%")
	}
	if f.Target != "" {
		db = db.Where("target = ?", f.Target)
	}
	if f.Result != "" {
		db = db.Where("result = ?", f.Result)
	}
	if f.Since != nil {
		db = db.Where("at >= ?", *f.Since)
	}
	if f.Until != nil {
		db = db.Where("at < ?", *f.Until)
	}
	if f.Before > 0 {
		db = db.Where("id < ?", f.Before)
	}
	order := "id DESC"
	if f.After > 0 {
		// The page just newer than After: the oldest ones above it,
		// turned back to newest first below.
		db, order = db.Where("id > ?", f.After), "id ASC"
	}
	if f.Limit > 0 {
		db = db.Limit(f.Limit)
	}
	var as []AuditEntry
	if err := db.Order(order).Find(&as).Error; err != nil {
		return nil, fmt.Errorf("storage: search audit log: %w", err)
	}
	if f.After > 0 {
		slices.Reverse(as)
	}
	return as, nil
}

func escapeLike(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out)
}
