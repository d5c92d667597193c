package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// EnvironmentWarning is one expiry warning of an environment: the warning
// Lead before Deadline, due at DueAt. Outcome is "" while it is pending,
// then "sent" or "dropped" (the environment was no longer live), set once
// with WarnedAt by the replica that claims it (see envs/expiry.go).
type EnvironmentWarning struct {
	EnvironmentID string        `gorm:"primaryKey"`
	Deadline      time.Time     `gorm:"primaryKey"`
	Lead          time.Duration `gorm:"primaryKey;column:lead_time"`
	DueAt         time.Time
	Outcome       string
	WarnedAt      *time.Time
}

// TableName is environment_warnings.
func (EnvironmentWarning) TableName() string { return "environment_warnings" }

// ActionLink is a signed one-click link sent with a warning (see
// envs/links.go): it acts once (UsedAt), until ExpiresAt.
type ActionLink struct {
	ID            string `gorm:"primaryKey"`
	EnvironmentID string
	Action        string
	Deadline      time.Time
	ExpiresAt     time.Time
	CreatedAt     time.Time
	UsedAt        *time.Time
	UsedBy        string
}

// ArmWarnings records pending warnings; a warning already recorded for
// the same environment, deadline and lead is left as it is.
func (q Queries) ArmWarnings(ctx context.Context, ws []EnvironmentWarning) error {
	for i := range ws {
		w := ws[i]
		err := q.ctx(ctx).Exec(`INSERT INTO environment_warnings (environment_id, deadline, lead_time, due_at, outcome)
VALUES (?, ?, ?, ?, '') ON CONFLICT (environment_id, deadline, lead_time) DO NOTHING`,
			w.EnvironmentID, w.Deadline, int64(w.Lead), w.DueAt).Error
		if err != nil {
			return fmt.Errorf("storage: arm warning of %s: %w", w.EnvironmentID, err)
		}
	}
	return nil
}

// DropPendingWarnings deletes the environment's warnings not claimed yet
// (its deadline moved: they were for the old one).
func (q Queries) DropPendingWarnings(ctx context.Context, envID string) error {
	if err := q.ctx(ctx).Where("environment_id = ? AND outcome = ''", envID).Delete(&EnvironmentWarning{}).Error; err != nil {
		return fmt.Errorf("storage: drop pending warnings of %s: %w", envID, err)
	}
	return nil
}

// Warnings lists the warnings of the given environments, newest deadline
// first.
func (q Queries) Warnings(ctx context.Context, envIDs []string) ([]EnvironmentWarning, error) {
	if len(envIDs) == 0 {
		return nil, nil
	}
	var out []EnvironmentWarning
	err := q.ctx(ctx).Where("environment_id IN ?", envIDs).Order("deadline DESC, lead_time DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: warnings: %w", err)
	}
	return out, nil
}

// WarningsDue lists up to limit pending warnings due at now, soonest
// first (a partial index serves it).
func (q Queries) WarningsDue(ctx context.Context, now time.Time, limit int) ([]EnvironmentWarning, error) {
	var out []EnvironmentWarning
	err := q.ctx(ctx).Where("outcome = '' AND due_at <= ?", now).Order("due_at").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: warnings due: %w", err)
	}
	return out, nil
}

// ClaimWarnings sets the outcome of the environment's pending warnings
// for deadline with the given leads, and reports how many it claimed: the
// rows stay locked until the transaction ends, so of several replicas
// exactly one claims a warning.
func (q Queries) ClaimWarnings(ctx context.Context, envID string, deadline time.Time, leads []time.Duration, outcome string, at time.Time) (int, error) {
	ns := make([]int64, len(leads))
	for i, l := range leads {
		ns[i] = int64(l)
	}
	res := q.ctx(ctx).Model(&EnvironmentWarning{}).
		Where("environment_id = ? AND deadline = ? AND lead_time IN ? AND outcome = ''", envID, deadline, ns).
		Updates(map[string]any{"outcome": outcome, "warned_at": at})
	if res.Error != nil {
		return 0, fmt.Errorf("storage: claim warnings of %s: %w", envID, res.Error)
	}
	return int(res.RowsAffected), nil
}

// CreateActionLinks records one-click links.
func (q Queries) CreateActionLinks(ctx context.Context, links []ActionLink) error {
	if len(links) == 0 {
		return nil
	}
	if err := q.ctx(ctx).Create(&links).Error; err != nil {
		return fmt.Errorf("storage: create action links: %w", err)
	}
	return nil
}

// ActionLink loads a one-click link (ErrNotFound: none).
func (q Queries) ActionLink(ctx context.Context, id string) (*ActionLink, error) {
	var l ActionLink
	err := q.ctx(ctx).Where("id = ?", id).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: action link %s: %w", id, err)
	}
	return &l, nil
}

// UseActionLink marks a link used at `at` by `by` unless it was used
// already, and reports whether it did: a link acts once however many
// requests race for it.
func (q Queries) UseActionLink(ctx context.Context, id string, at time.Time, by string) (bool, error) {
	res := q.ctx(ctx).Model(&ActionLink{}).Where("id = ? AND used_at IS NULL", id).
		Updates(map[string]any{"used_at": at, "used_by": by})
	if res.Error != nil {
		return false, fmt.Errorf("storage: use action link %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseActionLink makes a used link usable again: what it was used for
// did not happen.
func (q Queries) ReleaseActionLink(ctx context.Context, id string) error {
	if err := q.ctx(ctx).Model(&ActionLink{}).Where("id = ?", id).
		Updates(map[string]any{"used_at": nil, "used_by": ""}).Error; err != nil {
		return fmt.Errorf("storage: release action link %s: %w", id, err)
	}
	return nil
}
