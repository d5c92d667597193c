package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Environments: created, read, listed, moved between statuses.

// CreateEnvironment inserts an environment; ErrConflict when a live
// environment has the same name.
// Its labels (the JSON object in Labels) are written to environment_labels
// too, for the label filter: call it in a transaction.
func (q Queries) CreateEnvironment(ctx context.Context, e *Environment) error {
	if e.Labels == "" {
		e.Labels = "{}"
	}
	if err := q.ctx(ctx).Create(e).Error; err != nil {
		if isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("storage: create environment %s: %w", e.Name, err)
	}
	if e.Labels == "{}" {
		return nil
	}
	var labels map[string]string
	if err := json.Unmarshal([]byte(e.Labels), &labels); err != nil {
		return fmt.Errorf("storage: create environment %s: labels: %w", e.Name, err)
	}
	rows := make([]EnvironmentLabel, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		rows = append(rows, EnvironmentLabel{EnvironmentID: e.ID, Key: k, Value: labels[k]})
	}
	if err := q.ctx(ctx).Create(&rows).Error; err != nil {
		return fmt.Errorf("storage: create environment %s: labels: %w", e.Name, err)
	}
	return nil
}

// Environment loads one environment.
func (q Queries) Environment(ctx context.Context, id string) (*Environment, error) {
	rows, err := q.ctx(ctx).Model(&Environment{}).Select(q.sqlColumns(environmentColumns)).Where("id = ?", id).Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: environment %s: %w", id, err)
	}
	es, err := scanEnvironments(rows, 1)
	if err != nil {
		return nil, fmt.Errorf("storage: environment %s: %w", id, err)
	}
	if len(es) == 0 {
		return nil, ErrNotFound
	}
	return &es[0], nil
}

// liveCondition is the condition of the partial index
// environments_live_created (migration 0022), word for word: a literal,
// not parameters, so that the planner can prove the index's condition.
const liveCondition = "status IN ('pending', 'provisioning', 'ready')"

// EnvironmentFilter narrows a listing. Empty fields match everything.
type EnvironmentFilter struct {
	Statuses []string
	// Undestroyed keeps only environments that are not destroyed; it is
	// served by a partial index (environments_undestroyed_created), which
	// an equivalent list of Statuses is not.
	Undestroyed bool
	// Live keeps only the live environments (pending, provisioning,
	// ready: the environments page's default tab), served by the partial
	// index environments_live_created, which the same Statuses are not.
	Live     bool
	Owner    string
	Template string
	Name     string // exact environment name
	Search   string // a part of the name, any case
	// Drifted keeps only the environments whose last drift check found
	// drift (true) or did not (false); nil: all.
	Drifted *bool
	// Labels keeps the environments that carry every one of these labels
	// (key and value).
	Labels []Label
	// VersionID keeps the environments of this version (0: any);
	// VersionNot those on a version other than this one, Team those of
	// this team and Kind of this kind (a rollout's selection).
	VersionID  int64
	VersionNot string
	Team       string
	Kind       string
	Limit      int
	Offset     int
	// After continues the listing with the environments older than this
	// key; Before lists the ones newer than it (still newest first).
	After, Before *ListKey
}

// Label is one key=value label.
type Label struct{ Key, Value string }

// ListKey is an environment's place in a listing: listings are ordered by
// (created_at, id), newest first.
type ListKey struct {
	CreatedAt time.Time
	ID        string
}

// Environments lists environments, newest first. With a Limit and no
// Offset, the (created_at, id) indexes give the page without sorting the
// table (see migrations 0004 and 0022).
func (q Queries) Environments(ctx context.Context, f EnvironmentFilter) ([]Environment, error) {
	rows, err := q.environmentsQuery(q.ctx(ctx), f).Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: list environments: %w", err)
	}
	es, err := scanEnvironments(rows, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list environments: %w", err)
	}
	if f.Before != nil {
		slices.Reverse(es)
	}
	return es, nil
}

// environmentsQuery is the query of Environments on db.
func (q Queries) environmentsQuery(db *gorm.DB, f EnvironmentFilter) *gorm.DB {
	table := "environments"
	if f.Live && !q.postgres {
		// SQLite's planner prefers environments_status_expires and a sort
		// of every live environment (it does not weigh the LIMIT);
		// PostgreSQL picks the partial index itself.
		table += " INDEXED BY environments_live_created"
	}
	db = db.Table(table)
	switch len(f.Statuses) {
	case 0:
	case 1:
		db = db.Where("status = ?", f.Statuses[0]) // IN of one is not served in order
	default:
		db = db.Where("status IN ?", f.Statuses)
	}
	if f.Undestroyed {
		// A literal, not a parameter: the planner can then prove the
		// partial index's condition.
		db = db.Where("status <> 'destroyed'")
	}
	if f.Live {
		db = db.Where(liveCondition)
	}
	if f.Owner != "" {
		db = db.Where("owner = ?", f.Owner)
	}
	if f.Template != "" {
		db = db.Where("template_name = ?", f.Template)
	}
	if f.Name != "" {
		db = db.Where("name = ?", f.Name)
	}
	if f.Search != "" {
		db = db.Where("LOWER(name) LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(f.Search))+"%")
	}
	if f.Drifted != nil {
		// The row must be about the environment's current stack: a result
		// about a replaced stack says nothing about this one.
		drifted := "id IN (SELECT environment_id FROM environment_drift d WHERE d.state = 'drifted' AND d.handle = environments.handle)"
		if *f.Drifted {
			db = db.Where(drifted)
		} else {
			db = db.Where("NOT " + drifted)
		}
	}
	for _, l := range f.Labels {
		db = db.Where("id IN (SELECT environment_id FROM environment_labels WHERE key = ? AND value = ?)", l.Key, l.Value)
	}
	if f.VersionID != 0 {
		db = db.Where("version_id = ?", f.VersionID)
	}
	if f.VersionNot != "" {
		db = db.Where("version <> ?", f.VersionNot)
	}
	if f.Team != "" {
		db = db.Where("team = ?", f.Team)
	}
	if f.Kind != "" {
		db = db.Where("kind = ?", f.Kind)
	}
	if f.Limit > 0 {
		db = db.Limit(f.Limit)
	}
	if f.Offset > 0 {
		db = db.Offset(f.Offset)
	}
	order := "created_at DESC, id DESC"
	switch {
	case f.After != nil:
		db = db.Where("(created_at, id) < (?, ?)", f.After.CreatedAt, f.After.ID)
	case f.Before != nil:
		db = db.Where("(created_at, id) > (?, ?)", f.Before.CreatedAt, f.Before.ID)
		order = "created_at, id"
	}
	return db.Select(q.sqlColumns(environmentColumns)).Order(order)
}

// LiveCountsByVersion counts the environments that are not destroyed per
// version id, of the given templates (all when names is empty), in one
// grouped query (the environments_version_live index).
func (q Queries) LiveCountsByVersion(ctx context.Context, names ...string) (map[int64]int, error) {
	var rows []struct {
		VersionID int64
		N         int
	}
	db := q.ctx(ctx).Model(&Environment{}).Select("version_id, COUNT(*) AS n").Where("status <> 'destroyed'")
	if len(names) > 0 {
		db = db.Where("template_name IN ?", names)
	}
	if err := db.Group("version_id").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("storage: count environments per version: %w", err)
	}
	out := make(map[int64]int, len(rows))
	for _, r := range rows {
		out[r.VersionID] = r.N
	}
	return out, nil
}

// CountByStatus counts environments per status.
func (q Queries) CountByStatus(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Status string
		N      int
	}
	err := q.ctx(ctx).Model(&Environment{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("storage: count environments: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// Transition moves an environment to status `to` only if its status is one
// of `from`, applying the other column updates with it. It reports whether
// the row changed: false means another actor got there first (or the
// environment is in another state), which is how every transition happens
// exactly once however many workers race for it.
func (q Queries) Transition(ctx context.Context, id string, from []string, to string, u EnvironmentUpdate) (bool, error) {
	return q.transition(q.ctx(ctx).Model(&Environment{}).Where("id = ? AND status IN ?", id, from), id, to, u)
}

// TransitionExpired is Transition that also requires the environment to be
// expired at now. The reaper decides on a row it read earlier; checking the
// expiry again in the update itself means an extension committed in
// between wins, on SQLite and PostgreSQL alike (PostgreSQL re-evaluates the
// condition on the newest row version after waiting for a concurrent
// writer).
func (q Queries) TransitionExpired(ctx context.Context, id string, from []string, to string, now time.Time, u EnvironmentUpdate) (bool, error) {
	return q.transition(q.ctx(ctx).Model(&Environment{}).Where("id = ? AND status IN ? AND expires_at <= ?", id, from, now), id, to, u)
}

// transition writes u's columns with status `to` (u.Status is not used).
func (q Queries) transition(where *gorm.DB, id, to string, u EnvironmentUpdate) (bool, error) {
	cols := u.columns()
	cols["status"] = to
	res := where.Updates(cols)
	if res.Error != nil {
		return false, fmt.Errorf("storage: transition environment %s to %s: %w", id, to, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// TransitionStackCleaned is Transition that also requires the
// environment's stack to be cleaned up already (stack_cleaned_at set): a
// failed launch whose stack is gone is destroyed without a provider call,
// and one whose clean-up has not finished is not.
func (q Queries) TransitionStackCleaned(ctx context.Context, id string, from []string, to string, u EnvironmentUpdate) (bool, error) {
	return q.transition(q.ctx(ctx).Model(&Environment{}).Where("id = ? AND status IN ? AND stack_cleaned_at IS NOT NULL", id, from), id, to, u)
}

// DestroyRequested reports whether a destroy of the environment was
// requested (destroy_requested_at is set): one primary-key lookup, cheap
// enough for a provisioning step to ask twice a second.
func (q Queries) DestroyRequested(ctx context.Context, id string) (bool, error) {
	var ids []string
	err := q.ctx(ctx).Model(&Environment{}).Where("id = ? AND destroy_requested_at IS NOT NULL", id).Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return false, fmt.Errorf("storage: destroy requested of %s: %w", id, err)
	}
	return len(ids) > 0, nil
}

// UpdateEnvironment sets columns of an environment whatever its status.
func (q Queries) UpdateEnvironment(ctx context.Context, id string, u EnvironmentUpdate) error {
	res := q.ctx(ctx).Model(&Environment{}).Where("id = ?", id).Updates(u.columns())
	if res.Error != nil {
		return fmt.Errorf("storage: update environment %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// ExtendEnvironment moves expires_at to `to` (updated at `at`) if the
// environment is in one of the given statuses and its expiry is still
// `from` (optimistic lock).
func (q Queries) ExtendEnvironment(ctx context.Context, id string, statuses []string, from, to, at time.Time) (bool, error) {
	res := q.ctx(ctx).Model(&Environment{}).
		Where("id = ? AND status IN ? AND expires_at = ?", id, statuses, from).
		Updates(map[string]any{"expires_at": to, "updated_at": at.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("storage: extend environment %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Expired lists environments in the given statuses whose expires_at is at or
// before now, oldest expiry first. The (status, expires_at) index keeps this
// off a full scan.
func (q Queries) Expired(ctx context.Context, statuses []string, now time.Time, limit int) ([]Environment, error) {
	var es []Environment
	if err := expiredQuery(q.ctx(ctx), statuses, now, limit).Find(&es).Error; err != nil {
		return nil, fmt.Errorf("storage: list expired environments: %w", err)
	}
	return es, nil
}

func expiredQuery(tx *gorm.DB, statuses []string, now time.Time, limit int) *gorm.DB {
	return tx.Where("status IN ? AND expires_at <= ?", statuses, now).Order("expires_at").Limit(limit)
}

// StackFilter picks environments by their stack: WithStack those that
// have, or may have, one (every environment but a failed launch whose
// stack was cleaned up), StackCleaned the failed launches whose stack was.
type StackFilter int

const (
	WithStack StackFilter = iota
	StackCleaned
)

// ExpireDue moves up to limit environments in one of the `from` statuses,
// with or without a stack as `stack` says, whose expires_at is at or
// before now to status `to`, oldest expiry first, in one statement, and
// returns them (id, name, provider, expires_at). An environment with a
// pending expiry warning is not due yet. The update re-checks the
// status, the stack and the expiry on each row it changes, so an
// environment extended or destroyed since it was picked is left alone. On PostgreSQL the rows are picked FOR UPDATE SKIP LOCKED:
// replicas reaping at the same time share the work instead of queueing on
// each other's rows.
func (q Queries) ExpireDue(ctx context.Context, from []string, stack StackFilter, to string, now time.Time, limit int, u EnvironmentUpdate) ([]Environment, error) {
	updates := u.columns()
	delete(updates, "status") // the status is `to`
	set, args := "status = ?", []any{to}
	for _, col := range slices.Sorted(maps.Keys(updates)) {
		set += ", " + col + " = ?"
		args = append(args, updates[col])
	}
	cond := " AND stack_cleaned_at IS NULL"
	if stack == StackCleaned {
		cond = " AND stack_cleaned_at IS NOT NULL"
	}
	// No destroy without the warnings attempted: an environment with an
	// expiry warning not claimed yet waits for the warning pass, which runs
	// before the reaper on every tick (see envs/expiry.go).
	cond += " AND NOT EXISTS (SELECT 1 FROM environment_warnings w WHERE w.environment_id = environments.id AND w.outcome = '')"
	// SQLite: one writer at a time, so picking and updating in one
	// statement is enough. PostgreSQL: the rows are picked and locked first,
	// in a materialized CTE; written as a subquery under IN, the update
	// changed more rows than the limit (TestExpireDueMovesOnlyWhatIsDueOnce).
	query := `UPDATE environments SET ` + set + ` WHERE id IN (
    SELECT id FROM environments WHERE status IN ? AND expires_at <= ?` + cond + ` ORDER BY expires_at LIMIT ?
) AND status IN ? AND expires_at <= ?` + cond + `
RETURNING id, name, provider, expires_at`
	if q.postgres {
		query = `WITH due AS MATERIALIZED (
    SELECT id FROM environments WHERE status IN ? AND expires_at <= ?` + cond + ` ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED
)
UPDATE environments SET ` + set + ` FROM due WHERE environments.id = due.id AND status IN ? AND expires_at <= ?` + cond + `
RETURNING environments.id, name, provider, expires_at`
		args = append([]any{from, now, limit}, args...)
		args = append(args, from, now)
	} else {
		args = append(args, from, now, limit, from, now)
	}
	var out []Environment
	if err := q.ctx(ctx).Raw(query, args...).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: expire due environments: %w", err)
	}
	return out, nil
}

// EnvironmentsByHandle returns the environments of a provider whose handle
// or id is one of the given handles (providers may key stacks by id before
// the handle is recorded).
func (q Queries) EnvironmentsByHandle(ctx context.Context, provider string, handles []string) ([]Environment, error) {
	var es []Environment
	err := q.ctx(ctx).Where("provider = ? AND (handle IN ? OR id IN ?)", provider, handles, handles).Find(&es).Error
	if err != nil {
		return nil, fmt.Errorf("storage: environments by handle: %w", err)
	}
	return es, nil
}

// ReadyStack is what a health sweep needs of a ready environment.
type ReadyStack struct {
	ID           string
	Provider     string
	Handle       string
	StatusReason string
	CreatedAt    time.Time
}

// ReadyStacks lists up to limit ready environments with a stack, oldest
// first, after the one at after (nil: from the first). It reads five
// columns through environments_status_created: a sweep of 100,000 ready
// environments every reaper sweep read them whole before.
func (q Queries) ReadyStacks(ctx context.Context, after *ListKey, limit int) ([]ReadyStack, error) {
	var out []ReadyStack
	if err := readyStacksQuery(q.ctx(ctx), after, limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: ready stacks: %w", err)
	}
	return out, nil
}

func readyStacksQuery(db *gorm.DB, after *ListKey, limit int) *gorm.DB {
	db = db.Model(&Environment{}).Select("id, provider, handle, status_reason, created_at").
		Where("status = 'ready' AND handle <> ''")
	if after != nil {
		db = db.Where("(created_at, id) > (?, ?)", after.CreatedAt, after.ID)
	}
	return db.Order("created_at, id").Limit(limit)
}
