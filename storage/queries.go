package storage

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Queries are the reads and writes the domain needs; DB runs them on the
// pool, Tx inside a transaction.
type Queries struct {
	db *gorm.DB
	// lockForEvents (PostgreSQL) makes AddEvent lock the environment's row
	// first; see AddEvent.
	lockForEvents bool
	// postgres selects PostgreSQL-only clauses (SKIP LOCKED).
	postgres bool
}

func (q Queries) ctx(ctx context.Context) *gorm.DB { return q.db.WithContext(ctx) }

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// --- settings ---

// Setting reads a setting; ErrNotFound if unset.
func (q Queries) Setting(ctx context.Context, key string) (string, error) {
	var s Setting
	if err := q.ctx(ctx).Where("key = ?", key).Take(&s).Error; err != nil {
		return "", notFound(err)
	}
	return s.Value, nil
}

// SetSettingOnce stores a setting unless it exists, and returns the stored
// value (so concurrent first starts agree on one value).
func (q Queries) SetSettingOnce(ctx context.Context, key, value string) (string, error) {
	err := q.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&Setting{Key: key, Value: value}).Error
	if err != nil {
		return "", fmt.Errorf("storage: set %s: %w", key, err)
	}
	return q.Setting(ctx, key)
}
