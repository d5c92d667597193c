package storage

import (
	"context"
	"fmt"
	"time"
)

// CreateRollout inserts a rollout and its items (call it in a
// transaction).
func (q Queries) CreateRollout(ctx context.Context, r *Rollout, items []RolloutItem) error {
	if err := q.ctx(ctx).Create(r).Error; err != nil {
		return fmt.Errorf("storage: create rollout %s: %w", r.ID, err)
	}
	if len(items) == 0 {
		return nil
	}
	if err := q.ctx(ctx).CreateInBatches(items, 500).Error; err != nil {
		return fmt.Errorf("storage: create items of rollout %s: %w", r.ID, err)
	}
	return nil
}

// Rollout loads one rollout.
func (q Queries) Rollout(ctx context.Context, id string) (*Rollout, error) {
	var r Rollout
	if err := q.ctx(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, notFound(err)
	}
	return &r, nil
}

// Rollouts lists a template's rollouts, newest first.
func (q Queries) Rollouts(ctx context.Context, template string, limit int) ([]Rollout, error) {
	var rs []Rollout
	if err := q.ctx(ctx).Where("template_name = ?", template).Order("created_at DESC, id DESC").Limit(limit).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("storage: list rollouts of %s: %w", template, err)
	}
	return rs, nil
}

// RolloutItems lists a rollout's items by wave.
func (q Queries) RolloutItems(ctx context.Context, id string) ([]RolloutItem, error) {
	var items []RolloutItem
	if err := q.ctx(ctx).Where("rollout_id = ?", id).Order("wave, environment_id").Find(&items).Error; err != nil {
		return nil, fmt.Errorf("storage: list items of rollout %s: %w", id, err)
	}
	return items, nil
}

// TransitionRollout sets a rollout's columns if its status is one of from,
// and reports whether it did.
func (q Queries) TransitionRollout(ctx context.Context, id string, from []string, u RolloutUpdate) (bool, error) {
	res := q.ctx(ctx).Model(&Rollout{}).Where("id = ? AND status IN ?", id, from).Updates(u.columns())
	if res.Error != nil {
		return false, fmt.Errorf("storage: update rollout %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// TransitionRolloutItem sets an item's columns if its state is one of
// from, and reports whether it did.
func (q Queries) TransitionRolloutItem(ctx context.Context, rollout, env string, from []string, u RolloutItemUpdate) (bool, error) {
	res := q.ctx(ctx).Model(&RolloutItem{}).Where("rollout_id = ? AND environment_id = ? AND state IN ?", rollout, env, from).Updates(u.columns())
	if res.Error != nil {
		return false, fmt.Errorf("storage: update item %s of rollout %s: %w", env, rollout, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SkipPendingRolloutItems marks a rollout's pending items skipped.
func (q Queries) SkipPendingRolloutItems(ctx context.Context, rollout, reason string, at any) error {
	err := q.ctx(ctx).Model(&RolloutItem{}).Where("rollout_id = ? AND state = 'pending'", rollout).
		Updates(map[string]any{"state": "skipped", "reason": reason, "finished_at": at}).Error
	if err != nil {
		return fmt.Errorf("storage: skip items of rollout %s: %w", rollout, err)
	}
	return nil
}

// StartRolloutItem moves a pending item to running only while fewer than
// limit items of its rollout run, and reports whether it did, in its own
// transaction (see Tx.StartRolloutItem).
func (db *DB) StartRolloutItem(ctx context.Context, rollout, env string, limit int, at time.Time) (bool, error) {
	var started bool
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		started, err = tx.StartRolloutItem(ctx, rollout, env, limit, at)
		return err
	})
	return started, err
}

// StartRolloutItem moves a pending item to running only while fewer than
// limit items of its rollout run, and reports whether it did. The rollout's
// row is locked first (PostgreSQL; SQLite has one writer), so two looks
// at the same rollout at once never start more than limit. In tx, so that
// what the item starts (its replace) is requested in the same transaction.
func (tx *Tx) StartRolloutItem(ctx context.Context, rollout, env string, limit int, at time.Time) (bool, error) {
	wrap := func(err error) error {
		return fmt.Errorf("storage: start item %s of rollout %s: %w", env, rollout, err)
	}
	if tx.postgres {
		var id string
		if err := tx.ctx(ctx).Raw(`SELECT id FROM rollouts WHERE id = ? FOR UPDATE`, rollout).Scan(&id).Error; err != nil {
			return false, wrap(err)
		}
	}
	var running int64
	if err := tx.ctx(ctx).Model(&RolloutItem{}).Where("rollout_id = ? AND state = 'running'", rollout).Count(&running).Error; err != nil {
		return false, wrap(err)
	}
	if int(running) >= limit {
		return false, nil
	}
	started, err := tx.TransitionRolloutItem(ctx, rollout, env, []string{"pending"}, RolloutItemUpdate{State: Set("running"), StartedAt: At(at)})
	if err != nil {
		return false, wrap(err)
	}
	return started, nil
}
