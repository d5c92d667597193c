package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Quota is a limit on one user's (by name) or one team's live
// environments; the name "*" is every user's or every team's default. A
// nil limit is no limit of that kind.
type Quota struct {
	Scope            string `gorm:"primaryKey"`
	Name             string `gorm:"primaryKey"`
	MaxLive          *int
	MaxMonthlyMicros *int64
	UpdatedBy        string
	UpdatedAt        time.Time
}

// QuotaApproval is a request to launch or extend past a limit and the
// decision on it. Team is the team whose limit was hit ("" when it was a
// user's): its team admins may decide it, besides the administrators.
type QuotaApproval struct {
	ID            string `gorm:"primaryKey"`
	Kind          string
	Status        string
	Requester     string
	RequesterID   string
	Actor         string
	Team          string
	TemplateName  string
	EnvironmentID string
	TTL           string `gorm:"column:ttl"`
	Request       []byte
	LimitText     string
	Reason        string
	CostMicros    int64
	CreatedAt     time.Time
	DecidedBy     string
	DecidedAt     *time.Time
	Result        string
}

// Quotas lists every limit, by scope and name.
func (q Queries) Quotas(ctx context.Context) ([]Quota, error) {
	var out []Quota
	if err := q.ctx(ctx).Order("scope, name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: list quotas: %w", err)
	}
	return out, nil
}

// QuotasFor loads the limits of one scope for the given names (a name and
// "*", say).
func (q Queries) QuotasFor(ctx context.Context, scope string, names ...string) ([]Quota, error) {
	var out []Quota
	if err := q.ctx(ctx).Where("scope = ? AND name IN ?", scope, names).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: load quotas of %s: %w", scope, err)
	}
	return out, nil
}

// SaveQuota creates or replaces a limit.
func (q Queries) SaveQuota(ctx context.Context, quota *Quota) error {
	err := q.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "scope"}, {Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"max_live", "max_monthly_micros", "updated_by", "updated_at"}),
	}).Create(quota).Error
	if err != nil {
		return fmt.Errorf("storage: save quota %s %s: %w", quota.Scope, quota.Name, err)
	}
	return nil
}

// DeleteQuota removes a limit; ErrNotFound if there was none.
func (q Queries) DeleteQuota(ctx context.Context, scope, name string) error {
	res := q.ctx(ctx).Where("scope = ? AND name = ?", scope, name).Delete(&Quota{})
	if res.Error != nil {
		return fmt.Errorf("storage: delete quota %s %s: %w", scope, name, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// LockQuota serialises the quota checks of one scope and name until the
// transaction ends: on PostgreSQL a transaction-level advisory lock, so
// that two launches counting the same user's environments take turns and
// the second sees the first's row. SQLite needs nothing: its transactions
// take the write lock at BEGIN (_txlock=immediate) on its one connection.
func (q Queries) LockQuota(ctx context.Context, scope, name string) error {
	if !q.postgres {
		return nil
	}
	if err := q.ctx(ctx).Exec(`SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, "mayfly:quota:"+scope+":"+name).Error; err != nil {
		return fmt.Errorf("storage: lock quota %s %s: %w", scope, name, err)
	}
	return nil
}

// CostRow is what the quota checks and the cost pages read of an
// environment.
type CostRow struct {
	ID                 string
	Name               string
	Owner              string
	OwnerID            string
	Team               string
	TemplateName       string
	Status             string
	HourlyCostMicros   int64
	DestroyCause       string
	CreatedAt          time.Time
	ExpiresAt          time.Time
	MaxExpiresAt       time.Time
	DestroyRequestedAt *time.Time
	DestroyedAt        *time.Time
}

// CostFilter selects environments for CostRows; empty fields select all.
type CostFilter struct {
	Statuses []string
	// OwnerID, or Owner (by name) when OwnerID is empty.
	OwnerID, Owner string
	Team           string
	TemplateName   string
	// Causes with DestroyedSince select environments destroyed by those
	// policies whose destroy was requested at or after it.
	Causes         []string
	DestroyedSince time.Time
	// Priced keeps only environments with a cost estimate.
	Priced bool
}

// CostRows loads the cost columns of the environments f selects.
func (q Queries) CostRows(ctx context.Context, f CostFilter) ([]CostRow, error) {
	db := q.ctx(ctx).Model(&Environment{}).Select("id, name, owner, owner_id, team, template_name, status, hourly_cost_micros, " +
		"destroy_cause, created_at, expires_at, max_expires_at, destroy_requested_at, destroyed_at")
	if len(f.Statuses) > 0 {
		db = db.Where("status IN ?", f.Statuses)
	}
	switch {
	case f.OwnerID != "":
		db = db.Where("owner_id = ?", f.OwnerID)
	case f.Owner != "":
		db = db.Where("owner = ? AND owner_id = ''", f.Owner)
	}
	if f.Team != "" {
		db = db.Where("team = ?", f.Team)
	}
	if f.TemplateName != "" {
		db = db.Where("template_name = ?", f.TemplateName)
	}
	if len(f.Causes) > 0 {
		db = db.Where("destroy_cause IN ? AND destroy_requested_at >= ?", f.Causes, f.DestroyedSince)
	}
	if f.Priced {
		db = db.Where("hourly_cost_micros > 0")
	}
	var out []CostRow
	if err := db.Order("created_at, id").Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: load cost rows: %w", err)
	}
	for i := range out {
		out[i].CreatedAt, out[i].ExpiresAt, out[i].MaxExpiresAt = out[i].CreatedAt.UTC(), out[i].ExpiresAt.UTC(), out[i].MaxExpiresAt.UTC()
	}
	return out, nil
}

// CreateApproval records an approval request.
func (q Queries) CreateApproval(ctx context.Context, a *QuotaApproval) error {
	if err := q.ctx(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("storage: record approval %s: %w", a.ID, err)
	}
	return nil
}

// Approval loads one approval request.
func (q Queries) Approval(ctx context.Context, id string) (*QuotaApproval, error) {
	var a QuotaApproval
	err := q.ctx(ctx).Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: load approval %s: %w", id, err)
	}
	return &a, nil
}

// Approvals lists approval requests, newest first: those with the given
// statuses (all when empty), at most limit.
func (q Queries) Approvals(ctx context.Context, statuses []string, limit int) ([]QuotaApproval, error) {
	db := q.ctx(ctx).Order("created_at DESC, id DESC").Limit(limit)
	if len(statuses) > 0 {
		db = db.Where("status IN ?", statuses)
	}
	var out []QuotaApproval
	if err := db.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: list approvals: %w", err)
	}
	return out, nil
}

// DecideApproval moves a pending request to status, once: false when it
// is not pending any more (decided by someone else meanwhile).
func (q Queries) DecideApproval(ctx context.Context, id, status, by string, at time.Time, result string) (bool, error) {
	res := q.ctx(ctx).Model(&QuotaApproval{}).Where("id = ? AND status = 'pending'", id).
		Updates(map[string]any{"status": status, "decided_by": by, "decided_at": at, "result": result})
	if res.Error != nil {
		return false, fmt.Errorf("storage: decide approval %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// TableName is the quotas table (migration 0018).
func (Quota) TableName() string { return "quotas" }

// TableName is the approvals table (migration 0018).
func (QuotaApproval) TableName() string { return "quota_approvals" }
