package storage

import (
	"context"
	"fmt"
	"time"
)

// Where a cloud provider's stacks may be: the orphan sweep asks the
// provider to look wherever a template sends stacks or an environment's
// stack was recorded (see envs.StackScopes).

// StackBodies returns the distinct stack bodies (JSON) of every version of
// the provider's templates, deprecated versions included.
func (q Queries) StackBodies(ctx context.Context, provider string) ([]string, error) {
	var out []string
	err := q.ctx(ctx).Model(&TemplateVersion{}).Where("provider = ?", provider).Distinct().Pluck("stack", &out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: stack bodies of %s: %w", provider, err)
	}
	return out, nil
}

// RecentHandles returns the handles of the provider's environments that
// are not destroyed or were destroyed at or after since.
func (q Queries) RecentHandles(ctx context.Context, provider string, since time.Time) ([]string, error) {
	var out []string
	err := q.ctx(ctx).Model(&Environment{}).
		Where("provider = ? AND handle <> '' AND (status <> 'destroyed' OR destroyed_at >= ?)", provider, since).
		Pluck("handle", &out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: recent handles of %s: %w", provider, err)
	}
	return out, nil
}
