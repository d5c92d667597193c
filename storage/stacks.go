package storage

import (
	"context"
	"fmt"
)

// Stacks of environments (see envs/replace.go): a row per stack an
// environment has had since its first replace.

// CreateStack inserts a stack; ErrConflict when its environment has a
// candidate being built already (stacks_one_building) or the id is taken.
func (q Queries) CreateStack(ctx context.Context, s *Stack) error {
	if err := q.ctx(ctx).Create(s).Error; err != nil {
		if isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("storage: create stack %s: %w", s.ID, err)
	}
	return nil
}

// Stack loads one stack.
func (q Queries) Stack(ctx context.Context, id string) (*Stack, error) {
	var s Stack
	if err := q.ctx(ctx).Where("id = ?", id).Take(&s).Error; err != nil {
		if err = notFound(err); err == ErrNotFound {
			return nil, err
		}
		return nil, fmt.Errorf("storage: stack %s: %w", id, err)
	}
	return &s, nil
}

// StacksOf lists an environment's stacks, oldest first.
func (q Queries) StacksOf(ctx context.Context, envID string) ([]Stack, error) {
	var out []Stack
	if err := q.ctx(ctx).Where("environment_id = ?", envID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: stacks of %s: %w", envID, err)
	}
	return out, nil
}

// UpdateStack changes a stack's columns; ErrNotFound if there is none.
func (q Queries) UpdateStack(ctx context.Context, id string, u StackUpdate) error {
	res := q.ctx(ctx).Model(&Stack{}).Where("id = ?", id).Updates(u.columns())
	if res.Error != nil {
		return fmt.Errorf("storage: update stack %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// TransitionStack moves a stack from one of the given statuses to `to`
// with u's other columns (u.Status is not used), and reports whether it
// did.
func (q Queries) TransitionStack(ctx context.Context, id string, from []string, to string, u StackUpdate) (bool, error) {
	cols := u.columns()
	cols["status"] = to
	res := q.ctx(ctx).Model(&Stack{}).Where("id = ? AND status IN ?", id, from).Updates(cols)
	if res.Error != nil {
		return false, fmt.Errorf("storage: stack %s to %s: %w", id, to, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// StacksByHandle returns the stacks whose handle or id is one of the
// given handles, with their environment's provider (the orphan sweeps:
// providers key stacks by stack id before the handle is recorded).
func (q Queries) StacksByHandle(ctx context.Context, provider string, handles []string) ([]Stack, error) {
	var out []Stack
	err := q.ctx(ctx).Where("(handle IN ? OR id IN ?) AND environment_id IN (SELECT id FROM environments WHERE provider = ?)",
		handles, handles, provider).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: stacks by handle: %w", err)
	}
	return out, nil
}
