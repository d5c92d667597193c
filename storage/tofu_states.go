package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TofuState is one tofu stack's state row (see migration 0019). State and
// Run are sealed by the domain; storage never sees them in the clear.
type TofuState struct {
	StackID    string `gorm:"primaryKey"`
	State      []byte
	Run        []byte
	LockID     string
	LockInfo   string
	LockHolder string
	LockedAt   *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// TableName is the table of migration 0019.
func (TofuState) TableName() string { return "tofu_states" }

// TofuState loads a stack's row; ErrNotFound if it has none.
func (q Queries) TofuState(ctx context.Context, stack string) (*TofuState, error) {
	var s TofuState
	if err := q.ctx(ctx).Where("stack_id = ?", stack).Take(&s).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("storage: load tofu state %s: %w", stack, err)
	}
	return &s, nil
}

// TofuStates lists every stack's row, without its state and run.
func (q Queries) TofuStates(ctx context.Context) ([]TofuState, error) {
	var rows []TofuState
	err := q.ctx(ctx).Select("stack_id", "lock_id", "lock_info", "lock_holder", "locked_at", "created_at", "updated_at").
		Order("stack_id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("storage: list tofu states: %w", err)
	}
	return rows, nil
}

// ensureTofuState creates a stack's empty row unless it has one.
func (q Queries) ensureTofuState(ctx context.Context, stack string, now time.Time) error {
	err := q.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&TofuState{StackID: stack, CreatedAt: now, UpdatedAt: now}).Error
	if err != nil {
		return fmt.Errorf("storage: create tofu state %s: %w", stack, err)
	}
	return nil
}

// PutTofuState stores a stack's (sealed) state. A stack that is locked
// takes it only from the lock's holder (lockID, as the client sends it
// with ?ID=); anyone else gets ErrConflict.
func (q Queries) PutTofuState(ctx context.Context, stack string, sealed []byte, lockID string, now time.Time) error {
	if err := q.ensureTofuState(ctx, stack, now); err != nil {
		return err
	}
	res := q.ctx(ctx).Model(&TofuState{}).Where("stack_id = ? AND (lock_id = '' OR lock_id = ?)", stack, lockID).
		Updates(map[string]any{"state": sealed, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("storage: save tofu state %s: %w", stack, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrConflict
	}
	return nil
}

// ClearTofuState empties a stack's state (the backend's DELETE); its row,
// lock and run stay. A stack without a row is cleared already.
func (q Queries) ClearTofuState(ctx context.Context, stack string, now time.Time) error {
	err := q.ctx(ctx).Model(&TofuState{}).Where("stack_id = ?", stack).
		Updates(map[string]any{"state": nil, "updated_at": now}).Error
	if err != nil {
		return fmt.Errorf("storage: clear tofu state %s: %w", stack, err)
	}
	return nil
}

// SaveTofuRun stores what a stack's later runs need (sealed).
func (q Queries) SaveTofuRun(ctx context.Context, stack string, sealed []byte, now time.Time) error {
	if err := q.ensureTofuState(ctx, stack, now); err != nil {
		return err
	}
	err := q.ctx(ctx).Model(&TofuState{}).Where("stack_id = ?", stack).
		Updates(map[string]any{"run": sealed, "updated_at": now}).Error
	if err != nil {
		return fmt.Errorf("storage: save tofu run %s: %w", stack, err)
	}
	return nil
}

// LockTofuState takes a stack's lock for lockID. When another lock holds
// it, the row is returned (its LockInfo is what the client shows) with
// ErrConflict. Taking a lock one already holds succeeds (a retried
// request).
func (q Queries) LockTofuState(ctx context.Context, stack, lockID, info, holder string, now time.Time) (*TofuState, error) {
	if err := q.ensureTofuState(ctx, stack, now); err != nil {
		return nil, err
	}
	// One conditional update: of two replicas locking at once, one wins.
	res := q.ctx(ctx).Model(&TofuState{}).Where("stack_id = ? AND (lock_id = '' OR lock_id = ?)", stack, lockID).
		Updates(map[string]any{"lock_id": lockID, "lock_info": info, "lock_holder": holder, "locked_at": now})
	if res.Error != nil {
		return nil, fmt.Errorf("storage: lock tofu state %s: %w", stack, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil, nil
	}
	held, err := q.TofuState(ctx, stack)
	if err != nil {
		return nil, err
	}
	return held, ErrConflict
}

// UnlockTofuState releases a stack's lock if lockID holds it. An unlocked
// stack is unlocked already; one held by another lock returns its row with
// ErrConflict.
func (q Queries) UnlockTofuState(ctx context.Context, stack, lockID string) (*TofuState, error) {
	res := q.ctx(ctx).Model(&TofuState{}).Where("stack_id = ? AND lock_id = ?", stack, lockID).
		Updates(map[string]any{"lock_id": "", "lock_info": "", "lock_holder": "", "locked_at": nil})
	if res.Error != nil {
		return nil, fmt.Errorf("storage: unlock tofu state %s: %w", stack, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil, nil
	}
	held, err := q.TofuState(ctx, stack)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if held.LockID == "" {
		return nil, nil
	}
	return held, ErrConflict
}

// DeleteTofuState removes a stack's row once the stack is destroyed.
func (q Queries) DeleteTofuState(ctx context.Context, stack string) error {
	if err := q.ctx(ctx).Where("stack_id = ?", stack).Delete(&TofuState{}).Error; err != nil {
		return fmt.Errorf("storage: delete tofu state %s: %w", stack, err)
	}
	return nil
}
