package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// LaunchKey is the launch an idempotency key made, for one owner.
type LaunchKey struct {
	OwnerID       string `gorm:"primaryKey"`
	Key           string `gorm:"primaryKey"`
	Digest        string
	EnvironmentID string
	CreatedAt     time.Time
}

// LaunchKey loads an owner's key made after since; ErrNotFound if there is
// none (or only an older one).
func (q Queries) LaunchKey(ctx context.Context, owner, key string, since time.Time) (*LaunchKey, error) {
	var k LaunchKey
	err := q.ctx(ctx).Where("owner_id = ? AND key = ? AND created_at > ?", owner, key, since).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: load launch key: %w", err)
	}
	return &k, nil
}

// ClaimLaunchKey records a key for a launch (in the launch's transaction):
// an older row of the same key (made before since, or whose environment is
// gone) is replaced; ErrConflict when the key is taken.
func (q Queries) ClaimLaunchKey(ctx context.Context, k *LaunchKey, since time.Time) error {
	if err := q.ctx(ctx).Where("owner_id = ? AND key = ? AND (created_at <= ? OR environment_id NOT IN (SELECT id FROM environments))",
		k.OwnerID, k.Key, since).Delete(&LaunchKey{}).Error; err != nil {
		return fmt.Errorf("storage: replace old launch key: %w", err)
	}
	if err := q.ctx(ctx).Create(k).Error; err != nil {
		if isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("storage: record launch key: %w", err)
	}
	return nil
}

// DeleteLaunchKeysBefore sweeps the keys made before t; it returns how
// many it deleted.
func (q Queries) DeleteLaunchKeysBefore(ctx context.Context, t time.Time) (int64, error) {
	res := q.ctx(ctx).Where("created_at <= ?", t).Delete(&LaunchKey{})
	if res.Error != nil {
		return 0, fmt.Errorf("storage: sweep launch keys: %w", res.Error)
	}
	return res.RowsAffected, nil
}
