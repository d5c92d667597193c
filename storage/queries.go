package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Queries are the reads and writes the domain needs; DB runs them on the
// pool, Tx inside a transaction.
type Queries struct {
	db *gorm.DB
	// lockForEvents (PostgreSQL) makes AddEvent lock the environment's row
	// first; see AddEvent.
	lockForEvents bool
	// postgres selects PostgreSQL-only clauses (SKIP LOCKED).
	postgres bool
}

func (q Queries) ctx(ctx context.Context) *gorm.DB { return q.db.WithContext(ctx) }

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// --- templates ---

// SaveTemplate creates the catalog entry or updates its descriptive fields
// (never its owning team). On PostgreSQL the row stays locked by the
// transaction, so a Template read after it sees the owning team as
// committed by any concurrent first publish.
func (q Queries) SaveTemplate(ctx context.Context, t *Template) error {
	err := q.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"kind", "description", "owner", "updated_at"}),
	}).Create(t).Error
	if err != nil {
		return fmt.Errorf("storage: save template %s: %w", t.Name, err)
	}
	return nil
}

// SetTemplateOwnerTeam hands a template name to another team (updated at
// `at`).
func (q Queries) SetTemplateOwnerTeam(ctx context.Context, name, team string, at time.Time) error {
	err := q.ctx(ctx).Model(&Template{}).Where("name = ?", name).Updates(map[string]any{"owner_team": team, "updated_at": at}).Error
	if err != nil {
		return fmt.Errorf("storage: set owner team of template %s: %w", name, err)
	}
	return nil
}

// CreateVersion inserts a version; ErrConflict if it exists already.
func (q Queries) CreateVersion(ctx context.Context, v *TemplateVersion) error {
	if err := q.ctx(ctx).Create(v).Error; err != nil {
		if isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("storage: create version %s@%s: %w", v.TemplateName, v.Version, err)
	}
	return nil
}

// Version loads one version of a template.
func (q Queries) Version(ctx context.Context, template, version string) (*TemplateVersion, error) {
	var v TemplateVersion
	err := q.ctx(ctx).Where("template_name = ? AND version = ?", template, version).Take(&v).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &v, nil
}

// VersionByID loads a version by its id.
func (q Queries) VersionByID(ctx context.Context, id int64) (*TemplateVersion, error) {
	var v TemplateVersion
	if err := q.ctx(ctx).Take(&v, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &v, nil
}

// Template loads one catalog entry.
func (q Queries) Template(ctx context.Context, name string) (*Template, error) {
	var t Template
	if err := q.ctx(ctx).Where("name = ?", name).Take(&t).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// Templates lists the catalog by name.
func (q Queries) Templates(ctx context.Context) ([]Template, error) {
	var ts []Template
	if err := q.ctx(ctx).Order("name").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("storage: list templates: %w", err)
	}
	return ts, nil
}

// Versions lists the versions of the given templates (all when names is
// empty), newest first by semantic version.
func (q Queries) Versions(ctx context.Context, names ...string) ([]TemplateVersion, error) {
	var vs []TemplateVersion
	db := q.ctx(ctx)
	if len(names) > 0 {
		db = db.Where("template_name IN ?", names)
	}
	err := db.Order("template_name, major DESC, minor DESC, patch DESC, prerelease = '' DESC, prerelease DESC").Find(&vs).Error
	if err != nil {
		return nil, fmt.Errorf("storage: list versions: %w", err)
	}
	return vs, nil
}

// DeprecateVersion marks a version deprecated (a no-op if it already is).
func (q Queries) DeprecateVersion(ctx context.Context, id int64, at time.Time, note string) error {
	err := q.ctx(ctx).Model(&TemplateVersion{}).Where("id = ? AND deprecated_at IS NULL", id).
		Updates(map[string]any{"deprecated_at": at, "deprecation_note": note}).Error
	if err != nil {
		return fmt.Errorf("storage: deprecate version %d: %w", id, err)
	}
	return nil
}

// SetDeprecationSchedule sets when a deprecated version's environments
// are acted on (nil date: never), unless that was done already.
func (q Queries) SetDeprecationSchedule(ctx context.Context, id int64, date *time.Time, action string) error {
	err := q.ctx(ctx).Model(&TemplateVersion{}).Where("id = ? AND deprecation_done_at IS NULL", id).
		Updates(map[string]any{"deprecation_date": date, "deprecation_action": action}).Error
	if err != nil {
		return fmt.Errorf("storage: set deprecation schedule of version %d: %w", id, err)
	}
	return nil
}

// DueDeprecations lists the deprecated versions whose deprecation date is
// at or before now and whose environments were not acted on yet.
func (q Queries) DueDeprecations(ctx context.Context, now time.Time, limit int) ([]TemplateVersion, error) {
	var vs []TemplateVersion
	err := q.ctx(ctx).Where("deprecation_date IS NOT NULL AND deprecation_done_at IS NULL AND deprecation_date <= ? AND deprecated_at IS NOT NULL", now).
		Order("deprecation_date").Limit(limit).Find(&vs).Error
	if err != nil {
		return nil, fmt.Errorf("storage: list due deprecations: %w", err)
	}
	return vs, nil
}

// ClaimDeprecation marks a due deprecation done and reports whether this
// call did: however many replicas run the sweep, one acts on it.
func (q Queries) ClaimDeprecation(ctx context.Context, id int64, now time.Time) (bool, error) {
	res := q.ctx(ctx).Model(&TemplateVersion{}).Where("id = ? AND deprecation_done_at IS NULL AND deprecation_date <= ?", id, now).
		Update("deprecation_done_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("storage: claim deprecation of version %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// --- environments ---

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

// EnvironmentFilter narrows a listing. Empty fields match everything.
type EnvironmentFilter struct {
	Statuses []string
	// Undestroyed keeps only environments that are not destroyed; it is
	// served by a partial index (environments_undestroyed_created), which
	// an equivalent list of Statuses is not.
	Undestroyed bool
	Owner       string
	Template    string
	Name        string // exact environment name
	Search      string // a part of the name, any case
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
// table (see migration 0004).
func (q Queries) Environments(ctx context.Context, f EnvironmentFilter) ([]Environment, error) {
	db := q.ctx(ctx)
	if len(f.Statuses) > 0 {
		db = db.Where("status IN ?", f.Statuses)
	}
	if f.Undestroyed {
		// A literal, not a parameter: the planner can then prove the
		// partial index's condition.
		db = db.Where("status <> 'destroyed'")
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
	rows, err := db.Model(&Environment{}).Select(q.sqlColumns(environmentColumns)).Order(order).Rows()
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
	err := q.ctx(ctx).Where("status IN ? AND expires_at <= ?", statuses, now).
		Order("expires_at").Limit(limit).Find(&es).Error
	if err != nil {
		return nil, fmt.Errorf("storage: list expired environments: %w", err)
	}
	return es, nil
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

// --- events ---

// AddEvent appends an event to a timeline; ev.ID is set.
//
// Timelines are followed by id (Events after an id), so within one
// environment ids must be handed out in commit order, or a follower that
// already passed a higher id misses a lower one committed later. SQLite
// commits one transaction at a time. On PostgreSQL the event's transaction
// first locks the environment's row, which every other writer of that
// timeline also locks (transitions and extensions update it), so the next
// id is drawn only once the previous writer has committed. Call it inside
// a transaction (DB.AddEvent opens one).
func (q Queries) AddEvent(ctx context.Context, ev *Event) error {
	if q.lockForEvents {
		var id string
		if err := q.ctx(ctx).Raw(`SELECT id FROM environments WHERE id = ? FOR UPDATE`, ev.EnvironmentID).Scan(&id).Error; err != nil {
			return fmt.Errorf("storage: add event to %s: lock timeline: %w", ev.EnvironmentID, err)
		}
	}
	if err := q.ctx(ctx).Create(ev).Error; err != nil {
		return fmt.Errorf("storage: add event to %s: %w", ev.EnvironmentID, err)
	}
	return nil
}

// AddEventWhile appends an event only while the environment is in one of
// the given statuses, and reports whether it did: a provider's progress
// reported after a destroy was requested is not shown as if the launch
// went on. The status is read with the environment's row locked
// (PostgreSQL) or in SQLite's one writing transaction, so a destroy
// request commits either before the check or after the event. Call it
// inside a transaction (DB.AddEventWhile opens one).
func (q Queries) AddEventWhile(ctx context.Context, ev *Event, statuses []string) (bool, error) {
	query := `SELECT status FROM environments WHERE id = ?`
	if q.postgres {
		query += ` FOR UPDATE`
	}
	var status []string
	if err := q.ctx(ctx).Raw(query, ev.EnvironmentID).Scan(&status).Error; err != nil {
		return false, fmt.Errorf("storage: add event to %s: read status: %w", ev.EnvironmentID, err)
	}
	if len(status) == 0 || !slices.Contains(statuses, status[0]) {
		return false, nil
	}
	if err := q.ctx(ctx).Create(ev).Error; err != nil {
		return false, fmt.Errorf("storage: add event to %s: %w", ev.EnvironmentID, err)
	}
	return true, nil
}

// HasEvent reports whether an environment's timeline holds an event of
// the kind with exactly this message.
func (q Queries) HasEvent(ctx context.Context, envID, kind, message string) (bool, error) {
	var ids []int64
	err := q.ctx(ctx).Model(&Event{}).Where("environment_id = ? AND kind = ? AND message = ?", envID, kind, message).Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return false, fmt.Errorf("storage: find event of %s: %w", envID, err)
	}
	return len(ids) > 0, nil
}

// AddEvents appends many events at once (ids are set), in the caller's
// transaction. On PostgreSQL it first locks their environments' rows, in id
// order, for the same reason as AddEvent (a transaction that changed those
// rows already holds the locks).
func (q Queries) AddEvents(ctx context.Context, evs []Event) error {
	return q.addEvents(ctx, evs, q.lockForEvents)
}

// AddEventsLocked is AddEvents for environments whose rows the caller's
// transaction has already changed (and so holds locked until it ends), as
// the reaper's batch has: it skips locking them again, which cost a
// 1,000-row SELECT ... FOR UPDATE per batch on PostgreSQL.
func (q Queries) AddEventsLocked(ctx context.Context, evs []Event) error {
	return q.addEvents(ctx, evs, false)
}

func (q Queries) addEvents(ctx context.Context, evs []Event, lock bool) error {
	if len(evs) == 0 {
		return nil
	}
	if lock {
		ids := make([]string, 0, len(evs))
		for _, ev := range evs {
			ids = append(ids, ev.EnvironmentID)
		}
		slices.Sort(ids)
		var locked []string
		err := q.ctx(ctx).Raw(`SELECT id FROM environments WHERE id IN ? ORDER BY id FOR UPDATE`, slices.Compact(ids)).Scan(&locked).Error
		if err != nil {
			return fmt.Errorf("storage: add %d events: lock timelines: %w", len(evs), err)
		}
	}
	if err := q.ctx(ctx).CreateInBatches(evs, 500).Error; err != nil {
		return fmt.Errorf("storage: add %d events: %w", len(evs), err)
	}
	return nil
}

// Events lists an environment's events with id > after, oldest first.
func (q Queries) Events(ctx context.Context, envID string, after int64, limit int) ([]Event, error) {
	db := q.ctx(ctx).Model(&Event{}).Select(q.sqlColumns(eventColumns)).Where("environment_id = ? AND id > ?", envID, after).Order("id")
	if limit > 0 {
		db = db.Limit(limit)
	}
	rows, err := db.Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: list events of %s: %w", envID, err)
	}
	evs, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list events of %s: %w", envID, err)
	}
	return evs, nil
}

// LastEvents lists an environment's newest `limit` events, oldest first
// (the events_environment index, walked backwards).
func (q Queries) LastEvents(ctx context.Context, envID string, limit int) ([]Event, error) {
	rows, err := q.ctx(ctx).Model(&Event{}).Select(q.sqlColumns(eventColumns)).Where("environment_id = ?", envID).Order("id DESC").Limit(limit).Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: list last events of %s: %w", envID, err)
	}
	evs, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list last events of %s: %w", envID, err)
	}
	slices.Reverse(evs)
	return evs, nil
}

// LastEventID is the id of the newest event of any environment (0 if none).
func (q Queries) LastEventID(ctx context.Context) (int64, error) {
	var id *int64
	if err := q.ctx(ctx).Model(&Event{}).Select("MAX(id)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("storage: last event id: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// EventsSince lists events of every environment with id > after.
func (q Queries) EventsSince(ctx context.Context, after int64, limit int) ([]Event, error) {
	var evs []Event
	if err := q.ctx(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("storage: list events: %w", err)
	}
	return evs, nil
}

// --- audit ---

// Audit appends an audit entry.
func (q Queries) Audit(ctx context.Context, a *AuditEntry) error {
	if err := q.ctx(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("storage: audit %s: %w", a.Action, err)
	}
	return nil
}

// AuditMany records several audit entries at once (a reaper batch).
func (q Queries) AuditMany(ctx context.Context, as []AuditEntry) error {
	if len(as) == 0 {
		return nil
	}
	if err := q.ctx(ctx).CreateInBatches(as, 500).Error; err != nil {
		return fmt.Errorf("storage: audit %d entries: %w", len(as), err)
	}
	return nil
}

// AuditEntries lists the newest audit entries first.
func (q Queries) AuditEntries(ctx context.Context, limit int) ([]AuditEntry, error) {
	var as []AuditEntry
	if err := q.ctx(ctx).Order("id DESC").Limit(limit).Find(&as).Error; err != nil {
		return nil, fmt.Errorf("storage: list audit log: %w", err)
	}
	return as, nil
}

// --- settings ---

// Setting reads a setting; ErrNotFound if unset.
func (q Queries) Setting(ctx context.Context, key string) (string, error) {
	var s Setting
	if err := q.ctx(ctx).Where("key = ?", key).Take(&s).Error; err != nil {
		return "", notFound(err)
	}
	return s.Value, nil
}

// SetSettingOnce stores a setting unless it exists, and returns the stored
// value (so concurrent first starts agree on one value).
func (q Queries) SetSettingOnce(ctx context.Context, key, value string) (string, error) {
	err := q.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&Setting{Key: key, Value: value}).Error
	if err != nil {
		return "", fmt.Errorf("storage: set %s: %w", key, err)
	}
	return q.Setting(ctx, key)
}

// AddEventWhile is Queries.AddEventWhile in a transaction of its own.
func (db *DB) AddEventWhile(ctx context.Context, ev *Event, statuses []string) (bool, error) {
	var added bool
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		added, err = tx.AddEventWhile(ctx, ev, statuses)
		return err
	})
	return added, err
}

// AddEvent appends an event outside any other change, in a transaction of
// its own (see Queries.AddEvent).
func (db *DB) AddEvent(ctx context.Context, ev *Event) error {
	if !db.lockForEvents {
		return db.Queries.AddEvent(ctx, ev)
	}
	return db.InTx(ctx, func(tx *Tx) error { return tx.AddEvent(ctx, ev) })
}
