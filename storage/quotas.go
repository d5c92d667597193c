package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Quota is a limit on a user's or a team's live environments and on their
// projected cost this month; nil fields are no limit. Name "*" is the
// default of its scope.
type Quota struct {
	Scope            string `gorm:"primaryKey"` // user or team
	Name             string `gorm:"primaryKey"`
	MaxLive          *int
	MaxMonthlyMicros *int64
	UpdatedBy        string
	UpdatedAt        time.Time
}

// QuotaApproval is a request to launch or extend past a quota, and its
// decision.
type QuotaApproval struct {
	ID            string `gorm:"primaryKey"`
	Kind          string // launch or extend
	Status        string // pending, approved, denied
	Requester     string
	RequesterID   string
	Actor         string // JSON of the requester's rights
	Team          string
	TemplateName  string
	EnvironmentID string
	TTL           string `gorm:"column:ttl"`
	Request       []byte // sealed JSON of a launch request
	LimitText     string
	Reason        string
	CostMicros    int64
	CreatedAt     time.Time
	DecidedBy     string
	DecidedAt     *time.Time
	Result        string
}

// Quotas lists every quota, by scope and name.
func (q Queries) Quotas(ctx context.Context) ([]Quota, error) {
	var out []Quota
	if err := q.ctx(ctx).Order("scope, name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: list quotas: %w", err)
	}
	return out, nil
}

// QuotaOf is the quota of a user or team name, else its scope's default
// ("*"); ErrNotFound when neither is set.
func (q Queries) QuotaOf(ctx context.Context, scope, name string) (*Quota, error) {
	var rows []Quota
	if err := q.ctx(ctx).Where("scope = ? AND name IN ?", scope, []string{name, "*"}).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("storage: quota of %s %s: %w", scope, name, err)
	}
	slices.SortFunc(rows, func(a, b Quota) int { // the name's own before the default
		if a.Name == "*" {
			return 1
		}
		if b.Name == "*" {
			return -1
		}
		return 0
	})
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// SetQuota creates or replaces a quota.
func (q Queries) SetQuota(ctx context.Context, quota *Quota) error {
	err := q.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "scope"}, {Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"max_live", "max_monthly_micros", "updated_by", "updated_at"}),
	}).Create(quota).Error
	if err != nil {
		return fmt.Errorf("storage: set quota %s %s: %w", quota.Scope, quota.Name, err)
	}
	return nil
}

// DeleteQuota removes a quota; it reports whether there was one.
func (q Queries) DeleteQuota(ctx context.Context, scope, name string) (bool, error) {
	res := q.ctx(ctx).Where("scope = ? AND name = ?", scope, name).Delete(&Quota{})
	if res.Error != nil {
		return false, fmt.Errorf("storage: delete quota %s %s: %w", scope, name, res.Error)
	}
	return res.RowsAffected > 0, nil
}

// LockQuotas serialises the quota checks of the given keys until the
// transaction ends. On PostgreSQL it takes a transaction advisory lock per
// key, in sorted order (so two transactions never wait on each other in
// a circle); on SQLite every write transaction begins IMMEDIATE and holds
// the database's one write lock already, so nothing more is needed.
func (q Queries) LockQuotas(ctx context.Context, keys ...string) error {
	if !q.postgres {
		return nil
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if err := q.ctx(ctx).Exec(`SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, "mayfly:quota:"+k).Error; err != nil {
			return fmt.Errorf("storage: lock quota %s: %w", k, err)
		}
	}
	return nil
}

// UsageFilter selects the environments a quota counts: an owner (by user
// id, else by name) or a team.
type UsageFilter struct {
	OwnerID, Owner, Team string
}

func (q Queries) usage(ctx context.Context, f UsageFilter) (*gorm.DB, error) {
	db := q.ctx(ctx).Model(&Environment{})
	switch {
	case f.Team != "":
		return db.Where("team = ?", f.Team), nil
	case f.OwnerID != "":
		return db.Where("owner_id = ?", f.OwnerID), nil
	case f.Owner != "":
		return db.Where("owner = ? AND owner_id = ''", f.Owner), nil
	}
	return nil, errors.New("storage: usage of nobody")
}

// CountLive counts the environments of f in the given statuses.
func (q Queries) CountLive(ctx context.Context, f UsageFilter, statuses []string) (int, error) {
	db, err := q.usage(ctx, f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := db.Where("status IN ?", statuses).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("storage: count live environments: %w", err)
	}
	return int(n), nil
}

// CostingSince lists the environments with a cost that were not destroyed
// before since: of f, or every one when f is zero.
func (q Queries) CostingSince(ctx context.Context, f UsageFilter, since time.Time) ([]Environment, error) {
	db := q.ctx(ctx).Model(&Environment{})
	if f != (UsageFilter{}) {
		var err error
		if db, err = q.usage(ctx, f); err != nil {
			return nil, err
		}
	}
	rows, err := db.Select(q.sqlColumns(environmentColumns)).
		Where("hourly_cost_micros > 0 AND (destroyed_at IS NULL OR destroyed_at >= ?)", since).Order("created_at, id").Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: environments costing since %s: %w", since.Format(time.RFC3339), err)
	}
	return scanEnvironments(rows, 256)
}

// DestroyedByPolicy lists the environments with a cost that a policy
// destroyed (destroy_cause set) from since on, oldest first.
func (q Queries) DestroyedByPolicy(ctx context.Context, since time.Time) ([]Environment, error) {
	rows, err := q.ctx(ctx).Model(&Environment{}).Select(q.sqlColumns(environmentColumns)).
		Where("destroy_cause <> '' AND hourly_cost_micros > 0 AND destroy_requested_at >= ?", since).
		Order("destroy_requested_at, id").Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: environments destroyed by policy: %w", err)
	}
	return scanEnvironments(rows, 256)
}

// CreateApproval records an approval request.
func (q Queries) CreateApproval(ctx context.Context, a *QuotaApproval) error {
	if err := q.ctx(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("storage: create approval request: %w", err)
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
		return nil, fmt.Errorf("storage: approval %s: %w", id, err)
	}
	return &a, nil
}

// ApprovalFilter narrows the approval requests listed.
type ApprovalFilter struct {
	Status      string // "" any
	RequesterID string // with Requester: one person's requests only
	Requester   string
	Limit       int
}

// Approvals lists approval requests, newest first.
func (q Queries) Approvals(ctx context.Context, f ApprovalFilter) ([]QuotaApproval, error) {
	db := q.ctx(ctx).Order("created_at DESC, id DESC").Limit(cmpOrInt(f.Limit, 200))
	if f.Status != "" {
		db = db.Where("status = ?", f.Status)
	}
	switch {
	case f.RequesterID != "":
		db = db.Where("requester_id = ?", f.RequesterID)
	case f.Requester != "":
		db = db.Where("requester = ? AND requester_id = ''", f.Requester)
	}
	var out []QuotaApproval
	if err := db.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: list approvals: %w", err)
	}
	return out, nil
}

// DecideApproval moves a pending request to status; it reports false when
// the request was no longer pending (decided concurrently).
func (q Queries) DecideApproval(ctx context.Context, id, status, by string, at time.Time, result string) (bool, error) {
	res := q.ctx(ctx).Model(&QuotaApproval{}).Where("id = ? AND status = 'pending'", id).
		Updates(map[string]any{"status": status, "decided_by": by, "decided_at": at, "result": result})
	if res.Error != nil {
		return false, fmt.Errorf("storage: decide approval %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

func cmpOrInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
