package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// EnvironmentActivity is an environment's last activity, its inactivity
// deadlines and its working-hours schedule (see envs/inactivity.go and
// envs/schedule.go); one row per environment launched since migration 17.
type EnvironmentActivity struct {
	EnvironmentID string `gorm:"primaryKey"`
	// IdleTTL and IdleWarn are the version's inactivity policy at launch
	// (0: none).
	IdleTTL       time.Duration `gorm:"column:idle_ttl"`
	IdleWarn      time.Duration `gorm:"column:idle_warn"`
	LastActiveAt  time.Time
	LastActiveVia string
	// IdleWarnAt and IdleUntil are when it is warned and destroyed unless
	// used meanwhile; IdleWarnedAt when the warning for this IdleUntil was
	// given (nil: not yet).
	IdleWarnAt   *time.Time
	IdleUntil    *time.Time
	IdleWarnedAt *time.Time
	// Schedule is "" (the team's default), "off", or the JSON of the
	// environment's own.
	Schedule string
	// StopAt is the schedule's next stop of a live environment; StartAt
	// the next start of one it stopped (StoppedAt); RelaunchedAs the
	// environment that start launched ("" until then).
	StopAt       *time.Time
	StartAt      *time.Time
	StoppedAt    *time.Time
	RelaunchedAs string
	UpdatedAt    time.Time
}

// TableName is environment_activity.
func (EnvironmentActivity) TableName() string { return "environment_activity" }

// TeamSchedule is a team's default working hours.
type TeamSchedule struct {
	Team      string `gorm:"primaryKey"`
	Stop      string
	Start     string
	TZ        string `gorm:"column:tz"`
	UpdatedBy string
	UpdatedAt time.Time
}

// CreateActivity records an environment's activity row.
func (q Queries) CreateActivity(ctx context.Context, a *EnvironmentActivity) error {
	if err := q.ctx(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("storage: create activity of %s: %w", a.EnvironmentID, err)
	}
	return nil
}

// Activity loads an environment's activity row (ErrNotFound: it has none).
func (q Queries) Activity(ctx context.Context, id string) (*EnvironmentActivity, error) {
	var a EnvironmentActivity
	err := q.ctx(ctx).Where("environment_id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: activity of %s: %w", id, err)
	}
	return &a, nil
}

// Activities loads the activity rows of the given environments.
func (q Queries) Activities(ctx context.Context, ids []string) ([]EnvironmentActivity, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []EnvironmentActivity
	if err := q.ctx(ctx).Where("environment_id IN ?", ids).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: activities: %w", err)
	}
	return out, nil
}

// RecordActivity moves an environment's last activity to at (and its
// inactivity deadlines with it, re-arming the warning) unless a later
// activity is recorded already. It reports whether the row changed.
func (q Queries) RecordActivity(ctx context.Context, id string, at time.Time, via string, warnAt, until *time.Time) (bool, error) {
	res := q.ctx(ctx).Model(&EnvironmentActivity{}).Where("environment_id = ? AND last_active_at < ?", id, at).
		Updates(map[string]any{"last_active_at": at, "last_active_via": via, "idle_warn_at": warnAt,
			"idle_until": until, "idle_warned_at": nil, "updated_at": at})
	if res.Error != nil {
		return false, fmt.Errorf("storage: record activity of %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ActivityDue lists up to limit environments in one of the given statuses
// whose activity column col ("idle_warn_at", "idle_until", "stop_at",
// "start_at") is at or before now, soonest first; a warning already given,
// or a start already made, is not due again.
func (q Queries) ActivityDue(ctx context.Context, col string, statuses []string, now time.Time, limit int) ([]EnvironmentActivity, error) {
	cond := ""
	switch col {
	case "idle_warn_at":
		cond = " AND a.idle_warned_at IS NULL"
	case "start_at":
		cond = " AND a.relaunched_as = ''"
	case "idle_until", "stop_at":
	default:
		return nil, fmt.Errorf("storage: activity due: unknown column %q", col)
	}
	var out []EnvironmentActivity
	err := q.ctx(ctx).Table("environment_activity AS a").Select("a.*").
		Joins("JOIN environments e ON e.id = a.environment_id").
		Where("a."+col+" <= ? AND e.status IN ?"+cond, now, statuses).
		Order("a." + col).Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: activity due (%s): %w", col, err)
	}
	return out, nil
}

// ClaimActivity sets columns of an environment's activity row if cond
// (an SQL condition on the row, with args) still holds, and reports
// whether it did: the row is locked until the transaction ends, so of
// several replicas acting on the same deadline exactly one claims it.
func (q Queries) ClaimActivity(ctx context.Context, id, cond string, args []any, updates map[string]any) (bool, error) {
	res := q.ctx(ctx).Model(&EnvironmentActivity{}).Where("environment_id = ? AND "+cond, append([]any{id}, args...)...).Updates(updates)
	if res.Error != nil {
		return false, fmt.Errorf("storage: claim activity of %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UpdateActivity sets columns of an environment's activity row.
func (q Queries) UpdateActivity(ctx context.Context, id string, updates map[string]any) error {
	res := q.ctx(ctx).Model(&EnvironmentActivity{}).Where("environment_id = ?", id).Updates(updates)
	if res.Error != nil {
		return fmt.Errorf("storage: update activity of %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// LiveActivitiesOfTeam lists the activity rows of a team's live
// environments that follow the team's schedule (schedule "").
func (q Queries) LiveActivitiesOfTeam(ctx context.Context, team string, statuses []string) ([]EnvironmentActivity, error) {
	var out []EnvironmentActivity
	err := q.ctx(ctx).Table("environment_activity AS a").Select("a.*").
		Joins("JOIN environments e ON e.id = a.environment_id").
		Where("e.team = ? AND e.status IN ? AND a.schedule = ''", team, statuses).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: activities of team %s: %w", team, err)
	}
	return out, nil
}

// TeamSchedule loads a team's default schedule (ErrNotFound: none).
func (q Queries) TeamSchedule(ctx context.Context, team string) (*TeamSchedule, error) {
	var t TeamSchedule
	err := q.ctx(ctx).Where("team = ?", team).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: schedule of team %s: %w", team, err)
	}
	return &t, nil
}

// SaveTeamSchedule writes a team's default schedule.
func (q Queries) SaveTeamSchedule(ctx context.Context, t *TeamSchedule) error {
	if err := q.ctx(ctx).Save(t).Error; err != nil {
		return fmt.Errorf("storage: save schedule of team %s: %w", t.Team, err)
	}
	return nil
}

// DeleteTeamSchedule removes a team's default schedule.
func (q Queries) DeleteTeamSchedule(ctx context.Context, team string) error {
	if err := q.ctx(ctx).Where("team = ?", team).Delete(&TeamSchedule{}).Error; err != nil {
		return fmt.Errorf("storage: delete schedule of team %s: %w", team, err)
	}
	return nil
}
