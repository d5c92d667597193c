package storage

import (
	"context"
	"fmt"
	"time"
)

// Environments' sealed secrets, for key rotation.

// SecretRows lists environments that hold encrypted secrets (for key
// rotation).
func (q Queries) SecretRows(ctx context.Context) ([]Environment, error) {
	var es []Environment
	if err := q.ctx(ctx).Select("id", "secrets").Where("secrets IS NOT NULL AND length(secrets) > 0").Find(&es).Error; err != nil {
		return nil, fmt.Errorf("storage: list sealed secrets: %w", err)
	}
	return es, nil
}

// SetSecrets replaces an environment's sealed secrets (updated at `at`).
func (q Queries) SetSecrets(ctx context.Context, id string, sealed []byte, at time.Time) error {
	if err := q.ctx(ctx).Model(&Environment{}).Where("id = ?", id).Updates(map[string]any{"secrets": sealed, "updated_at": at}).Error; err != nil {
		return fmt.Errorf("storage: reseal secrets of %s: %w", id, err)
	}
	return nil
}
