package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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

// ActivityDeadline names one of an activity row's deadlines.
type ActivityDeadline int

const (
	// IdleWarning is idle_warn_at, when the inactivity warning is given;
	// due only while the warning for it was not (idle_warned_at unset).
	IdleWarning ActivityDeadline = iota + 1
	// IdleDestroy is idle_until, when an unused environment is destroyed.
	IdleDestroy
	// ScheduledStop is stop_at, the schedule's next stop.
	ScheduledStop
	// ScheduledStart is start_at, the schedule's next start; due only
	// while that start was not made (relaunched_as empty).
	ScheduledStart
)

// column is the deadline's column and the extra condition that keeps it
// due ("" or " AND ..."), on the activity row named by prefix ("" or
// "a.").
func (d ActivityDeadline) column(prefix string) (col, cond string, err error) {
	switch d {
	case IdleWarning:
		return prefix + "idle_warn_at", " AND " + prefix + "idle_warned_at IS NULL", nil
	case IdleDestroy:
		return prefix + "idle_until", "", nil
	case ScheduledStop:
		return prefix + "stop_at", "", nil
	case ScheduledStart:
		return prefix + "start_at", " AND " + prefix + "relaunched_as = ''", nil
	}
	return "", "", fmt.Errorf("storage: unknown activity deadline %d", d)
}

// ActivityDue lists up to limit environments in one of the given statuses
// whose deadline d is at or before now, soonest first; a warning already
// given, or a start already made, is not due again.
func (q Queries) ActivityDue(ctx context.Context, d ActivityDeadline, statuses []string, now time.Time, limit int) ([]EnvironmentActivity, error) {
	col, cond, err := d.column("a.")
	if err != nil {
		return nil, err
	}
	var out []EnvironmentActivity
	err = q.ctx(ctx).Table("environment_activity AS a").Select("a.*").
		Joins("JOIN environments e ON e.id = a.environment_id").
		Where(col+" <= ? AND e.status IN ?"+cond, now, statuses).
		Order(col).Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: activity due (%s): %w", col, err)
	}
	return out, nil
}

// ClaimActivity writes u to an environment's activity row if its deadline
// d is still due at now (as ActivityDue has it), and reports whether it
// did: the row is locked until the transaction ends, so of several
// replicas acting on the same deadline exactly one claims it.
func (q Queries) ClaimActivity(ctx context.Context, id string, d ActivityDeadline, now time.Time, u ActivityUpdate) (bool, error) {
	col, cond, err := d.column("")
	if err != nil {
		return false, err
	}
	return q.claimActivity(ctx, id, col+" <= ?"+cond, []any{now}, u)
}

// ClaimPendingStart writes u to an environment's activity row if it has a
// scheduled start not made yet (whenever it is due), and reports whether
// it did, like ClaimActivity.
func (q Queries) ClaimPendingStart(ctx context.Context, id string, u ActivityUpdate) (bool, error) {
	return q.claimActivity(ctx, id, "relaunched_as = '' AND start_at IS NOT NULL", nil, u)
}

func (q Queries) claimActivity(ctx context.Context, id, cond string, args []any, u ActivityUpdate) (bool, error) {
	res := q.ctx(ctx).Model(&EnvironmentActivity{}).Where("environment_id = ? AND "+cond, append([]any{id}, args...)...).Updates(u.columns())
	if res.Error != nil {
		return false, fmt.Errorf("storage: claim activity of %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UpdateActivity writes u to an environment's activity row.
func (q Queries) UpdateActivity(ctx context.Context, id string, u ActivityUpdate) error {
	res := q.ctx(ctx).Model(&EnvironmentActivity{}).Where("environment_id = ?", id).Updates(u.columns())
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

// SaveTeamSchedule writes a team's default schedule, t.UpdatedAt included
// (gorm's Save would stamp it with its own clock).
func (q Queries) SaveTeamSchedule(ctx context.Context, t *TeamSchedule) error {
	err := q.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "team"}},
		DoUpdates: clause.AssignmentColumns([]string{"stop", "start", "tz", "updated_by", "updated_at"}),
	}).Create(t).Error
	if err != nil {
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
