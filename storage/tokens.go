package storage

import (
	"context"
	"fmt"
	"time"
)

// API tokens.

// APIToken is a bearer token for scripts; only its hash is stored.
type APIToken struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	Name       string
	TokenHash  string
	Prefix     string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	// Role caps what the token may do: it acts with the lower of this and
	// its owner's current role.
	Role string
}

// CreateAPIToken stores a new token.
func (q Queries) CreateAPIToken(ctx context.Context, t *APIToken) error {
	if err := q.ctx(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("storage: create token: %w", err)
	}
	return nil
}

// APITokenByHash loads a token by the hash of its secret.
func (q Queries) APITokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	var t APIToken
	if err := q.ctx(ctx).Where("token_hash = ?", hash).Take(&t).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// APITokens lists a user's tokens, newest first ("" for everyone's).
func (q Queries) APITokens(ctx context.Context, userID string) ([]APIToken, error) {
	db := q.ctx(ctx)
	if userID != "" {
		db = db.Where("user_id = ?", userID)
	}
	var ts []APIToken
	if err := db.Order("created_at DESC, id DESC").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("storage: list tokens: %w", err)
	}
	return ts, nil
}

// APIToken loads a token by id.
func (q Queries) APIToken(ctx context.Context, id string) (*APIToken, error) {
	var t APIToken
	if err := q.ctx(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// RevokeAPIToken revokes a token; revoking twice is harmless.
func (q Queries) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	err := q.ctx(ctx).Model(&APIToken{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", at).Error
	if err != nil {
		return fmt.Errorf("storage: revoke token %s: %w", id, err)
	}
	return nil
}

// TouchAPIToken records a use.
func (q Queries) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	if err := q.ctx(ctx).Model(&APIToken{}).Where("id = ?", id).Update("last_used_at", at).Error; err != nil {
		return fmt.Errorf("storage: touch token %s: %w", id, err)
	}
	return nil
}
