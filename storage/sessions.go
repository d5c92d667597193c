package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Sessions of signed-in browsers, and sign-ins in flight.

// Session is a signed-in browser. TokenHash is the SHA-256 of the cookie.
type Session struct {
	TokenHash  string `gorm:"primaryKey"`
	UserID     string
	CSRFToken  string `gorm:"column:csrf_token"`
	Address    string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
}

// LoginState is a sign-in in flight.
type LoginState struct {
	State     string `gorm:"primaryKey"`
	Nonce     string
	Verifier  string
	ReturnTo  string
	CreatedAt time.Time
}

// CreateSession stores a new session.
func (q Queries) CreateSession(ctx context.Context, s *Session) error {
	if err := q.ctx(ctx).Create(s).Error; err != nil {
		return fmt.Errorf("storage: create session: %w", err)
	}
	return nil
}

// Session loads a session by its token hash.
func (q Queries) Session(ctx context.Context, hash string) (*Session, error) {
	var s Session
	if err := q.ctx(ctx).Where("token_hash = ?", hash).Take(&s).Error; err != nil {
		return nil, notFound(err)
	}
	return &s, nil
}

// TouchSession records activity (for the idle expiry).
func (q Queries) TouchSession(ctx context.Context, hash string, at time.Time) error {
	if err := q.ctx(ctx).Model(&Session{}).Where("token_hash = ?", hash).Update("last_seen_at", at).Error; err != nil {
		return fmt.Errorf("storage: touch session: %w", err)
	}
	return nil
}

// RevokeSession ends a session; revoking twice is harmless.
func (q Queries) RevokeSession(ctx context.Context, hash string, at time.Time) error {
	err := q.ctx(ctx).Model(&Session{}).Where("token_hash = ? AND revoked_at IS NULL", hash).Update("revoked_at", at).Error
	if err != nil {
		return fmt.Errorf("storage: revoke session: %w", err)
	}
	return nil
}

// SaveLoginState stores a sign-in in flight.
func (q Queries) SaveLoginState(ctx context.Context, s *LoginState) error {
	if err := q.ctx(ctx).Create(s).Error; err != nil {
		return fmt.Errorf("storage: save login state: %w", err)
	}
	return nil
}

// TakeLoginState loads and deletes a sign-in in flight, so it can be used
// once only. ErrNotFound if it does not exist (or was used already).
func (q Queries) TakeLoginState(ctx context.Context, state string) (*LoginState, error) {
	var s LoginState
	err := q.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("state = ?", state).Take(&s).Error; err != nil {
			return notFound(err)
		}
		res := tx.Where("state = ?", state).Delete(&LoginState{})
		if res.Error != nil {
			return fmt.Errorf("storage: delete login state: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound // taken concurrently
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteLoginStatesBefore drops sign-ins that were never completed.
func (q Queries) DeleteLoginStatesBefore(ctx context.Context, before time.Time) error {
	if err := q.ctx(ctx).Where("created_at < ?", before).Delete(&LoginState{}).Error; err != nil {
		return fmt.Errorf("storage: delete old login states: %w", err)
	}
	return nil
}
