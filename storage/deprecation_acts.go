package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// DeprecationAct is what a deprecation date does to one environment of the
// version, tried until done (see envs/deprecation_acts.go and migration
// 0020 for the states).
type DeprecationAct struct {
	EnvironmentID string `gorm:"primaryKey"`
	VersionID     int64  `gorm:"primaryKey"`
	Action        string
	State         string
	Attempts      int
	Target        string
	StackID       string
	Reason        string
	NextAt        *time.Time
	TriedAt       *time.Time
	FinishedAt    *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// CreateDeprecationActs inserts the acts of a due deprecation; one that
// exists already is left as it is.
func (q Queries) CreateDeprecationActs(ctx context.Context, acts []DeprecationAct) error {
	if len(acts) == 0 {
		return nil
	}
	if err := q.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&acts).Error; err != nil {
		return fmt.Errorf("storage: create deprecation acts: %w", err)
	}
	return nil
}

// DeprecationAct loads the act of the deprecation of version versionID on
// environment envID; ErrNotFound if there is none.
func (q Queries) DeprecationAct(ctx context.Context, envID string, versionID int64) (*DeprecationAct, error) {
	var a DeprecationAct
	if err := q.ctx(ctx).Where("environment_id = ? AND version_id = ?", envID, versionID).Take(&a).Error; err != nil {
		if err = notFound(err); err == ErrNotFound {
			return nil, err
		}
		return nil, fmt.Errorf("storage: deprecation act of %s: %w", envID, err)
	}
	return &a, nil
}

// DeprecationActOfStack loads the act that queued the replace building
// stackID; ErrNotFound if no act did.
func (q Queries) DeprecationActOfStack(ctx context.Context, stackID string) (*DeprecationAct, error) {
	var a DeprecationAct
	if err := q.ctx(ctx).Where("stack_id = ? AND state = ?", stackID, "replacing").Take(&a).Error; err != nil {
		if err = notFound(err); err == ErrNotFound {
			return nil, err
		}
		return nil, fmt.Errorf("storage: deprecation act of stack %s: %w", stackID, err)
	}
	return &a, nil
}

// DueDeprecationActs lists the acts waiting for a try (or a check on their
// replace) at or before now, the longest waiting first.
func (q Queries) DueDeprecationActs(ctx context.Context, now time.Time, limit int) ([]DeprecationAct, error) {
	var out []DeprecationAct
	err := q.ctx(ctx).Where("state IN ? AND next_at <= ?", []string{"waiting", "replacing"}, now).
		Order("next_at").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: list due deprecation acts: %w", err)
	}
	return out, nil
}

// SaveDeprecationAct writes a's state, attempts, target, stack, reason and
// times, if the row is still in state `state` after `attempts` tries, and
// reports whether it was: of two replicas trying the same act, one wins.
func (q Queries) SaveDeprecationAct(ctx context.Context, a *DeprecationAct, state string, attempts int) (bool, error) {
	res := q.ctx(ctx).Model(&DeprecationAct{}).
		Where("environment_id = ? AND version_id = ? AND state = ? AND attempts = ?", a.EnvironmentID, a.VersionID, state, attempts).
		Updates(map[string]any{"state": a.State, "attempts": a.Attempts, "target": a.Target, "stack_id": a.StackID,
			"reason": a.Reason, "next_at": a.NextAt, "tried_at": a.TriedAt, "finished_at": a.FinishedAt, "updated_at": a.UpdatedAt})
	if res.Error != nil {
		return false, fmt.Errorf("storage: save deprecation act of %s: %w", a.EnvironmentID, res.Error)
	}
	return res.RowsAffected == 1, nil
}
