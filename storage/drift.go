package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Drift checks of ready stacks (see envs/drift.go): one environment_drift
// row per environment, written by the check's job, the scheduler and
// on-demand requests, each with statements that touch only its columns.

// Drift loads the drift row of an environment; ErrNotFound if its stack was
// never checked nor scheduled.
func (q Queries) Drift(ctx context.Context, id string) (*EnvironmentDrift, error) {
	var d EnvironmentDrift
	if err := q.ctx(ctx).Where("environment_id = ?", id).Take(&d).Error; err != nil {
		return nil, notFound(err)
	}
	return &d, nil
}

// DriftState is an environment's drift row (empty fields when it has
// none) with its version's drift policy.
type DriftState struct {
	EnvironmentDrift
	PolicyInterval time.Duration
	PolicyRemedy   string
}

// DriftStates loads the drift rows and policies of the given environments,
// for a page or a listing.
func (q Queries) DriftStates(ctx context.Context, ids []string) ([]DriftState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// Scanned by hand, as the listings are (scan.go): gorm's scan of these
	// rows was a sixth of the API page's CPU.
	rows, err := q.ctx(ctx).Raw(`SELECT `+q.sqlColumns(driftStateColumns)+`
FROM environments e
JOIN template_versions v ON v.id = e.version_id
LEFT JOIN environment_drift d ON d.environment_id = e.id
WHERE e.id IN ?`, ids).Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: drift of %d environments: %w", len(ids), err)
	}
	out, err := scanDriftStates(rows, len(ids))
	if err != nil {
		return nil, fmt.Errorf("storage: drift of %d environments: %w", len(ids), err)
	}
	return out, nil
}

// driftStateColumns are DriftState's columns in the order scanDriftStates
// reads them.
var driftStateColumns = columns("e.id, v.drift_interval, v.drift_remedy, COALESCE(d.handle, ''), COALESCE(d.state, ''), " +
	"+d.checked_at, +d.drifted_since, COALESCE(d.items, '[]'), COALESCE(d.error, ''), +d.error_at, +d.due_at, " +
	"+d.requested_at, COALESCE(d.requested_by, ''), COALESCE(d.requests, 0)")

// scanDriftStates reads rows of driftStateColumns, and closes them.
func scanDriftStates(rows *sql.Rows, capacity int) ([]DriftState, error) {
	defer rows.Close()
	out := make([]DriftState, 0, capacity)
	for rows.Next() {
		var d DriftState
		var interval int64
		var checked, since, errorAt, due, requested scanTime
		if err := rows.Scan(&d.EnvironmentID, &interval, &d.PolicyRemedy, &d.Handle, &d.State, &checked, &since,
			&d.Items, &d.Error, &errorAt, &due, &requested, &d.RequestedBy, &d.Requests); err != nil {
			return nil, err
		}
		d.PolicyInterval = time.Duration(interval)
		d.CheckedAt, d.DriftedSince, d.ErrorAt = checked.Ptr(), since.Ptr(), errorAt.Ptr()
		d.DueAt, d.RequestedAt = due.Ptr(), requested.Ptr()
		out = append(out, d)
	}
	return out, rows.Err()
}

// SaveDrift writes a whole drift row, replacing the one there (the check's
// result, or a fresh row for a stack the scheduler has not seen).
func (q Queries) SaveDrift(ctx context.Context, d *EnvironmentDrift) error {
	if d.Items == "" {
		d.Items = "[]"
	}
	err := q.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "environment_id"}}, UpdateAll: true}).Create(d).Error
	if err != nil {
		return fmt.Errorf("storage: save drift of %s: %w", d.EnvironmentID, err)
	}
	return nil
}

// LockDrift loads the drift row of an environment (ErrNotFound if none)
// for the caller's transaction to change: on PostgreSQL it first locks the
// environment's row, which every writer of its drift row locks likewise
// (a row that does not exist yet cannot be locked itself). SQLite runs one
// transaction at a time.
func (q Queries) LockDrift(ctx context.Context, id string) (*EnvironmentDrift, error) {
	if q.postgres {
		var locked string
		if err := q.ctx(ctx).Raw(`SELECT id FROM environments WHERE id = ? FOR UPDATE`, id).Scan(&locked).Error; err != nil {
			return nil, fmt.Errorf("storage: lock drift of %s: %w", id, err)
		}
	}
	return q.Drift(ctx, id)
}

// RequestDrift records a request for a check of the environment's stack:
// requests is counted up, and with pending false requested_at and
// requested_by are set (with pending true a check is already queued or
// running, and serves it). The row is created if there is none.
func (q Queries) RequestDrift(ctx context.Context, id, handle string, at time.Time, by string, pending bool) error {
	var err error
	if pending {
		err = q.ctx(ctx).Model(&EnvironmentDrift{}).Where("environment_id = ?", id).
			Update("requests", gorm.Expr("requests + 1")).Error
	} else {
		d := EnvironmentDrift{EnvironmentID: id, Handle: handle, Items: "[]", RequestedAt: &at, RequestedBy: by, Requests: 1}
		err = q.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "environment_id"}},
			DoUpdates: clause.Assignments(map[string]any{"requested_at": at, "requested_by": by,
				"requests": gorm.Expr("environment_drift.requests + 1")})}).Create(&d).Error
	}
	if err != nil {
		return fmt.Errorf("storage: request drift check of %s: %w", id, err)
	}
	return nil
}

// ClearDriftRequest forgets a requested check that will not run (the
// environment is no longer ready).
func (q Queries) ClearDriftRequest(ctx context.Context, id string) error {
	err := q.ctx(ctx).Model(&EnvironmentDrift{}).Where("environment_id = ?", id).
		Updates(map[string]any{"requested_at": nil, "requested_by": ""}).Error
	if err != nil {
		return fmt.Errorf("storage: clear drift request of %s: %w", id, err)
	}
	return nil
}

// DriftSeed is a ready environment whose current stack has no drift row
// yet: the scheduler gives it one.
type DriftSeed struct {
	ID            string
	Provider      string
	Handle        string
	ReadyAt       *time.Time
	DriftInterval time.Duration
}

// DriftSeeds lists up to limit ready environments with a stack that has no
// drift row, or a row about another stack, with their version's interval.
func (q Queries) DriftSeeds(ctx context.Context, limit int) ([]DriftSeed, error) {
	var out []DriftSeed
	err := q.ctx(ctx).Raw(`SELECT e.id, e.provider, e.handle, e.ready_at, v.drift_interval
FROM environments e
JOIN template_versions v ON v.id = e.version_id
LEFT JOIN environment_drift d ON d.environment_id = e.id
WHERE e.status = 'ready' AND e.handle <> '' AND (d.environment_id IS NULL OR d.handle <> e.handle)
ORDER BY e.ready_at
LIMIT ?`, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: drift seeds: %w", err)
	}
	return out, nil
}

// DueDrift lists up to limit ready environments whose scheduled check is
// due at now, soonest first: those with no check requested, or one
// requested before stale (a job that was lost).
func (q Queries) DueDrift(ctx context.Context, now, stale time.Time, limit int) ([]string, error) {
	var out []string
	err := q.ctx(ctx).Raw(`SELECT d.environment_id
FROM environment_drift d
JOIN environments e ON e.id = d.environment_id
WHERE d.due_at <= ? AND e.status = 'ready' AND d.handle = e.handle AND (d.requested_at IS NULL OR d.requested_at < ?)
ORDER BY d.due_at
LIMIT ?`, now, stale, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: due drift checks: %w", err)
	}
	return out, nil
}

// CountDrifted counts, per provider, the ready environments whose current
// stack's last check found drift.
func (q Queries) CountDrifted(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Provider string
		N        int
	}
	err := q.ctx(ctx).Raw(`SELECT e.provider, COUNT(*) AS n
FROM environment_drift d
JOIN environments e ON e.id = d.environment_id
WHERE d.state = 'drifted' AND e.status = 'ready' AND d.handle = e.handle
GROUP BY e.provider`).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("storage: count drifted environments: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Provider] = r.N
	}
	return out, nil
}
